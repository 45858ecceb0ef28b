# Adapted from KAIST-VICLab/FMA-Net (model.py: MultiFlowBWarp, FRMA), MIT; THIRD_PARTY.md
"""FMA-Net's FRMA block (flow-guided refinement with multi-attention) and multi-flow warping."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmagic.models.utils import flow_warp

from .fmanet_blocks import RDB, MultiAttentionBlock, frame_conv_pair, map_in_row_bands


def multi_flow_warp(feat, flow_mask, num_flow):
    """Warp each of ``num_flow`` channel groups of every frame with its own flow and mask.

    Args:
        feat (Tensor): (n, t, c, h, w); the c channels split into ``num_flow`` consecutive groups.
        flow_mask (Tensor): (n, t, 3 * num_flow, h, w): per group (dx, dy, mask logit).
        num_flow (int): Number of flow-mask pairs.

    Returns:
        Tensor: (n, t, c, h, w): each group backward-warped with bilinear sampling (zeros outside
        the frame) and multiplied by the sigmoid of its mask.
    """
    n, t, c, h, w = feat.shape
    if c % num_flow or flow_mask.shape != (n, t, 3 * num_flow, h, w):
        raise ValueError(f'multi-flow warping of features {tuple(feat.shape)} in {num_flow} '
                         f'groups needs flow_mask (n, t, 3*{num_flow}, h, w), got '
                         f'{tuple(flow_mask.shape)}')
    groups = feat.reshape(n * t * num_flow, c // num_flow, h, w)
    fm = flow_mask.reshape(n * t * num_flow, 3, h, w)
    warped = flow_warp(groups, fm[:, :2].permute(0, 2, 3, 1)) * torch.sigmoid(fm[:, 2:3])
    return warped.view(n, t, c, h, w)


def multi_flow_warp_rows(feat, flow_mask, num_flow, y0):
    """Rows ``y0 : y0 + r`` of :func:`multi_flow_warp` of one frame: ``feat`` (n, c, h, w) the
    whole frame (a warp reads anywhere), ``flow_mask`` (n, 3 * num_flow, r, w) those rows of
    its flow-mask. The sampling grid is mmagic's ``flow_warp``'s (bilinear, zeros outside,
    ``align_corners=True``), computed in the same order, for those rows only."""
    n, c, h, w = feat.shape
    r = flow_mask.shape[-2]
    groups = feat.reshape(n * num_flow, c // num_flow, h, w)
    fm = flow_mask.reshape(n * num_flow, 3, r, w)
    ys = torch.arange(y0, y0 + r, dtype=feat.dtype, device=feat.device).view(1, r, 1)
    xs = torch.arange(w, dtype=feat.dtype, device=feat.device).view(1, 1, w)
    grid = torch.stack((2.0 * (xs + fm[:, 0]) / max(w - 1, 1) - 1.0,
                        2.0 * (ys + fm[:, 1]) / max(h - 1, 1) - 1.0), 3)
    warped = F.grid_sample(groups, grid, mode='bilinear', padding_mode='zeros',
                           align_corners=True)
    return warped.mul_(torch.sigmoid(fm[:, 2:3])).view(n, c, r, w)


def frames_to_channels(x):
    """(n, t, c, h, w) -> (n, c * t, h, w) with channel ``c_index * t + t_index``, the official
    ``'b c t h w -> b (c t) h w'``."""
    n, t, c, h, w = x.shape
    return x.transpose(1, 2).reshape(n, c * t, h, w)


def conv1x1_over_frames(conv, frames, lead=None):
    """``conv`` (a 1x1 ``Conv2d``) of ``cat([lead, frames_to_channels(frames)], 1)`` without
    building that input: a sum of 1x1 convolutions of each frame with its weight slice
    (input channel ``c * t + i`` of frame ``i`` after the ``lead`` channels).

    Args:
        conv (nn.Conv2d): 1x1 convolution over ``c0 + c * t`` input channels.
        frames (Tensor | callable): (n, t, c, h, w), or ``(fn, t)``: a function giving frame
            ``i`` as (n, c, h, w) and the frame count, so that only one frame is alive at once.
        lead (Tensor, optional): (n, c0, h, w) channels that come first.
    """
    fn, t = frames if isinstance(frames, tuple) else ((lambda i: frames[:, i]), frames.shape[1])
    w = conv.weight
    c0 = 0 if lead is None else lead.shape[1]
    out = None
    if lead is not None:
        out = F.conv2d(lead, w[:, :c0], conv.bias)
    for i in range(t):
        part = F.conv2d(fn(i), w[:, c0 + i::t], conv.bias if out is None else None)
        out = part if out is None else out.add_(part)  # ``out`` is a conv output of its own
        del part
    return out


def channels_to_frames(x, t):
    """Inverse of :func:`frames_to_channels`: (n, c * t, h, w) -> (n, t, c, h, w)."""
    n, ct, h, w = x.shape
    return x.view(n, ct // t, t, h, w).transpose(1, 2).contiguous()


class FRMA(nn.Module):
    """Flow-guided dynamic filtering and Refinement with Multi-Attention (FRMA) block.

    Per block: an RDB updates the features ``F``; the multi-flow-mask ``f`` (9 x (dx, dy, mask)
    per frame) is refined from the centre feature, ``f`` and ``F`` warped by ``f`` (the first
    block predicts it from the centre feature and ``F``); ``F`` warped by the new ``f`` is
    concatenated over the frames (with the previous ``Fw`` from the second block on) and fused
    by a 1x1 conv into ``Fw``; then ``num_multi_attn`` multi-attention blocks refine ``Fw`` with
    the centre feature as the CO query and (NetR, ``is_da``) this block's own projection of the
    shared kernel feature as the DA query.

    Args:
        dim (int): Feature channels (90).
        num_seq (int): Frames T (3).
        growth_rate, num_dense_layer (int): RDB settings (18, 4).
        num_flow (int): Flow-mask pairs (9); ``dim`` must be divisible by it.
        num_multi_attn (int): Multi-attention blocks (2).
        num_heads, layer_norm_type, ffn_expansion_factor, bias: attention settings.
        is_da (bool): Degradation-aware attention (NetR). Default: False.
        is_first_f (bool): The first block of NetD: no incoming flow-mask. Default: False.
        is_first_fw (bool): The first block: no incoming ``Fw``. Default: False.
    """

    def __init__(self, dim, num_seq, growth_rate, num_dense_layer, num_flow, num_multi_attn,
                 num_heads, layer_norm_type, ffn_expansion_factor, bias, is_da=False,
                 is_first_f=False, is_first_fw=False):
        super().__init__()
        if dim % num_flow:
            raise ValueError(f'dim ({dim}) must be divisible by num_flows ({num_flow})')
        self.num_flow = num_flow
        self.is_first_f, self.is_first_fw = is_first_f, is_first_fw
        self.rdb = RDB(dim, growth_rate, num_dense_layer, bias)
        self.rdb_kd = RDB(dim, growth_rate, num_dense_layer, bias) if is_da else None
        self.conv_kd = nn.Conv2d(dim * num_seq, dim, 1, bias=bias) if is_da else None
        fw_in = dim * num_seq if is_first_fw else dim + dim * num_seq
        self.conv_fw = nn.Conv2d(fw_in, dim, 1, bias=bias)
        f_in = dim * 2 if is_first_f else dim * 2 + 3 * num_flow
        self.conv_f = frame_conv_pair(f_in, 3 * num_flow, 3 * num_flow, bias)
        self.multi_attn_block = nn.ModuleList([
            MultiAttentionBlock(dim, num_heads, layer_norm_type, ffn_expansion_factor, bias,
                                is_da) for _ in range(num_multi_attn)])

    #: rows per band of the warped maps at inference
    warp_band = 32

    def refine_flow_mask(self, centre, frame_maps, add_to=None):
        """``conv_f`` of ``cat(centre repeated over the frames, *frame_maps)``, computed as a sum
        over the input-channel slices of its first conv: the centre frame's part once for all
        frames, and no concatenation of the (2 dim + 3 num_flow)-channel input.

        ``frame_maps`` is a list of (n, t, c, h, w) maps, or ``(fn, t)`` with ``fn(i, a, b)`` the
        list of frame ``i``'s (n, c, b - a, w) maps of rows ``a:b`` (no gradients): then the
        frames and bands of ``warp_band`` rows (read with the 1-row halo of the 3x3 conv) go
        one at a time, and the result is added to ``add_to`` (n, t, 3 * num_flow, h, w) frame
        by frame and returned.
        """
        first = self.conv_f[0]
        dim = centre.shape[1]
        w = first.weight[:, :, 0]
        centre_part = F.conv2d(centre, w[:, :dim], first.bias, padding=1)

        def summed(maps):  # (b, c, h, w) maps -> their parts of the first conv, summed
            out, start = None, dim
            for m in maps:
                part = F.conv2d(m, w[:, start:start + m.shape[1]], padding=1)
                out = part if out is None else out + part
                start += m.shape[1]
            return out

        if isinstance(frame_maps, tuple):
            # frame by frame (the conv pair works on each frame alone) and added to ``add_to``
            # at once: frame i of the flow-mask is not read again once its maps are made
            fn, t = frame_maps
            h = centre.shape[-2]
            for i in range(t):
                out = map_in_row_bands(lambda a, b, i=i: summed(fn(i, a, b)), h,
                                       self.warp_band, 1).add_(centre_part)
                out = self.conv_f[2](F.leaky_relu(out, 0.2, inplace=True)[:, None])
                add_to[:, i] += out[:, 0]
                del out
            return add_to
        else:
            n, t = frame_maps[0].shape[:2]
            out = centre_part[:, None] + summed(
                [m.flatten(0, 1) for m in frame_maps]).unflatten(0, (n, t))
        return self.conv_f[2](F.leaky_relu(out, 0.2, inplace=True))

    def fuse_in_bands(self, feat, flow_mask, fw):
        """The new ``Fw`` without gradients: ``conv_fw`` of the previous ``Fw`` (None in the
        first block) and the frames warped by the multi-flow-mask, a band of ``warp_band``
        output rows at a time (the warped maps exist for one frame and band at a time). A 1x1
        convolution reads only the rows it writes: the previous ``Fw`` (handed over) is
        overwritten band by band."""
        t, h = feat.shape[1], feat.shape[-2]

        def band(a, b):
            frames = (lambda i: multi_flow_warp_rows(
                feat[:, i], flow_mask[:, i, :, a:b], self.num_flow, a), t)
            lead = None if fw is None else fw[..., a:b, :]
            return conv1x1_over_frames(self.conv_fw, frames, lead)

        return map_in_row_bands(band, h, self.warp_band, 0, out=fw)

    def kd_query_in_bands(self, kd):
        """The DA query ``conv_kd(rdb_kd(kd))`` (n, dim, h, w) of the kernel feature
        (n, t, dim, h, w) without gradients: in bands of ``RDB.inference_band`` rows, each
        read with the RDB's halo, so that its per-frame outputs exist for one band at a time
        (``kd`` is shared by the blocks and left unchanged)."""
        t, h = kd.shape[1], kd.shape[-2]

        def band(a, b):
            return conv1x1_over_frames(
                self.conv_kd, (lambda i: self.rdb_kd(kd[:, i:i + 1, :, a:b])[:, 0], t))

        return map_in_row_bands(band, h, self.rdb_kd.inference_band, len(self.rdb_kd.layer))

    def forward(self, state, centre, kd=None):
        """
        Args:
            state (dict): The maps this block updates: ``feat`` (``F``, (n, t, dim, h, w)),
                ``fw`` (``Fw`` (n, dim, h, w) of the previous block; absent or None in the
                first block) and ``flow_mask`` (``f`` (n, t, 3 * num_flow, h, w) of the
                previous block; absent or None in NetD's first block). The block takes them
                out of the dict and puts its outputs back: passed as one dict, the previous
                maps are freed as soon as they are used, not when the call returns.
            centre (Tensor): The centre-frame feature ``F0_c`` (n, dim, h, w), fixed across
                blocks.
            kd (Tensor, optional): The kernel feature (n, t, dim, h, w) (NetR).

        Returns:
            dict: ``state`` with the new ``feat``, ``fw`` and ``flow_mask``.
        """
        feat, fw, flow_mask = state.pop('feat'), state.pop('fw', None), state.pop('flow_mask', None)
        lean = not torch.is_grad_enabled()

        # without gradients the RDB overwrites the features frame by frame, in row bands (the
        # caller hands over ``feat``: NetD and NetR keep no other reference to it)
        if lean:
            for i in range(feat.shape[1]):
                self.rdb(feat[:, i:i + 1], in_place=True)
        else:
            feat = self.rdb(feat)
        t = feat.shape[1]
        if self.is_first_f:
            flow_mask = self.refine_flow_mask(centre, [feat])
        else:
            if lean:  # the warped features of one frame and band of rows at a time, added
                # in place frame by frame (the flow-mask is handed over in ``state``)
                maps = (lambda i, a, b, fm=flow_mask: [
                    fm[:, i, :, a:b],
                    multi_flow_warp_rows(feat[:, i], fm[:, i, :, a:b], self.num_flow, a)], t)
                flow_mask = self.refine_flow_mask(centre, maps, add_to=flow_mask)
            else:
                maps = [flow_mask, multi_flow_warp(feat, flow_mask, self.num_flow)]
                flow_mask = flow_mask + self.refine_flow_mask(centre, maps)
        # the 1x1 fusion of the frames' interleaved channels (c * t + i) as a sum over the
        # frames: no (t * dim)-channel copies (62 MB each for 180x320 frames); without gradients
        # the warped maps are made one frame and band of rows at a time too
        if lean:
            fw = self.fuse_in_bands(feat, flow_mask, None if self.is_first_fw else fw)
        else:
            fw = conv1x1_over_frames(self.conv_fw, multi_flow_warp(feat, flow_mask, self.num_flow),
                                     None if self.is_first_fw else fw)
        kd_query = None
        if self.rdb_kd is not None:
            kd_query = (self.kd_query_in_bands(kd) if lean else
                        conv1x1_over_frames(self.conv_kd, self.rdb_kd(kd)))
        for blk in self.multi_attn_block:
            fw = blk(fw, centre, kd_query)
        state.update(feat=feat, fw=fw, flow_mask=flow_mask)
        return state


def run_frma_blocks(blocks, state, centre, kd=None):
    """Chain FRMA ``blocks`` over ``state`` (the dict :meth:`FRMA.forward` takes, which the
    caller hands over: no other reference to its maps) and return the last ``feat``, ``fw`` and
    ``flow_mask``."""
    for blk in blocks:
        state = blk(state, centre, kd)
    return state.pop('feat'), state.pop('fw'), state.pop('flow_mask')


__all__ = ['FRMA', 'multi_flow_warp', 'multi_flow_warp_rows', 'frames_to_channels',
           'channels_to_frames', 'conv1x1_over_frames', 'run_frma_blocks']
