# Adapted from KAIST-VICLab/FMA-Net (model.py: Net_D, Net_R, FMANet), MIT; THIRD_PARTY.md
"""FMA-Net: the degradation learning network NetD, the restoration network NetR, both together.

Differences from the official code, none of which changes the function (checked on converted
weights, see configs/fmanet/README.md): frames-major ``(n, t, c, h, w)`` tensors with the
per-frame Conv3d layers run as 2-D convolutions; FGDF without unfolds (``fmanet_fgdf.py``);
the RRDB fusion without the concatenation; NetD's flow/anchor heads and NetR's anchor head run
only when their outputs are asked for (training); frames in RGB (the official network was
trained on BGR frames: ``convert.py`` reorders the first and last layers of official weights).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmagic.registry import MODELS
from mmengine.model import BaseModule

from ...layers.checks import check_video
from .fmanet_blocks import (
    RRDB,
    PixelShuffleBlock,
    frame_conv,
    frame_conv_pair,
    frame_conv_pair_chunks,
    map_in_row_bands,
    per_frame,
    row_bands,
)
from .fmanet_fgdf import fgdf_downsample, fgdf_upsample, warp_clip
from .fmanet_frma import FRMA, channels_to_frames, run_frma_blocks


def _feature_extractor(in_channels, dim, num_rdb, growth_rate, num_dense_layers, bias):
    return nn.Sequential(frame_conv(in_channels, dim, bias),
                         nn.LeakyReLU(negative_slope=0.2, inplace=True),
                         RRDB(dim, num_rdb, growth_rate, num_dense_layers, bias))


def _frma_blocks(cfg, is_da):
    return nn.ModuleList([
        FRMA(cfg['dim'], cfg['num_frames'], cfg['growth_rate'], cfg['num_dense_layers'],
             cfg['num_flows'], cfg['num_attn_blocks'], cfg['num_heads'], cfg['layer_norm_type'],
             cfg['ffn_expansion_factor'], cfg['bias'], is_da=is_da,
             is_first_f=(i == 0 and not is_da), is_first_fw=(i == 0))
        for i in range(cfg['num_frma'])])


class NetD(nn.Module):
    """Degradation learning network: blurry LR clip -> features, flow-masks, kernels.

    ``forward(x, with_aux, with_kernels)`` takes (n, t, 3, h, w) and returns a dict: ``feat``
    (n, t, dim, h, w), ``flow_mask`` (n, t, 3 * num_flows, h, w) (the multi-flow-mask of the last
    FRMA block), ``fw`` (n, dim, h, w) (its fused warped features), ``kernels``
    (n, t, kd^2, h, w) (the degradation kernels KD, unless ``with_kernels`` is False: then
    :meth:`kernels_of_frame` gives them one frame at a time) and, with ``with_aux``,
    ``image_flow_mask`` (n, t, 3, h, w) (the image flow and mask f_Y) and ``anchor``
    (n, t, 3, h, w) (the TA-loss anchor).
    """

    def __init__(self, cfg):
        super().__init__()
        dim, t, bias, nf = cfg['dim'], cfg['num_frames'], cfg['bias'], cfg['num_flows']
        if dim % t:
            raise ValueError(f'dim ({dim}) must be divisible by num_frames ({t})')
        self.feature_extractor = _feature_extractor(cfg['in_channels'], dim, cfg['num_rdb'],
                                                    cfg['growth_rate'], cfg['num_dense_layers'],
                                                    bias)
        self.frma_blocks = _frma_blocks(cfg, is_da=False)
        self.f_conv = frame_conv_pair(3 * nf, 3 * nf, 3, bias)  # image flow-mask f_Y
        kd = cfg['degradation_kernel_size']
        self.d_conv = frame_conv_pair(dim // t, dim, kd * kd, bias)  # degradation kernels
        self.a_conv = frame_conv_pair(dim, dim, cfg['in_channels'], bias)  # TA anchor

    def forward(self, x, with_aux=False, with_kernels=True):
        t = x.shape[1]
        feat = per_frame(self.feature_extractor, x)
        centre = feat[:, t // 2].clone()  # a copy: a view would keep all frames alive
        # handed over: the FRMA blocks overwrite the features without gradients
        feat, fw, flow_mask = run_frma_blocks(self.frma_blocks, dict(feat=feat), centre)
        out = dict(feat=feat, flow_mask=flow_mask, fw=fw)
        if with_kernels:
            out['kernels'] = self.d_conv(channels_to_frames(fw, t))
        if with_aux:
            out.update(image_flow_mask=self.f_conv(flow_mask), anchor=self.a_conv(feat))
        return out

    def kernels_of_frame(self, fw, i, t, chunk=None):
        """The degradation kernels (n, kd^2, h, w) of frame ``i`` from ``fw`` (n, dim, h, w);
        with ``chunk``, a generator of ``(c0, kernels[:, c0:c0 + chunk])`` pairs instead (the
        hidden map made once, the kd^2 channels never all at once)."""
        frame = channels_to_frames(fw, t)[:, i:i + 1]
        if chunk is None:
            return self.d_conv(frame)[:, 0]
        return frame_conv_pair_chunks(self.d_conv, frame, chunk)


class NetR(nn.Module):
    """Restoration network: blurry LR clip + NetD's outputs -> the sharp HR centre frame.

    ``forward(x, net_d_out, with_aux)`` takes the blurry LR clip (n, t, 3, h, w) and a dict of
    NetD's outputs: ``feat`` (n, t, dim, h, w), ``flow_mask`` (n, t, 3 * num_flows, h, w) and
    ``kernel_feat``, :meth:`project_kernels` of NetD's kernels (a separate step, so that a
    caller can drop the kernels, the largest map of the network, before the rest runs), or a
    function that returns it, called once NetR's features are extracted. It
    takes these entries out of the dict, so that each is freed as soon as NetR is done with it
    (arguments of a module call stay referenced until the call returns); without gradients
    its own features overwrite the buffer of NetD's. It returns a dict:
    ``output`` (n, 3, s*h, s*w), and with ``with_aux`` ``lr_warp`` (n, t, 3, h, w) (the LR
    clip warped by the image flow f_X, for the LR warping loss) and ``anchor``
    (n, t, 3, h, w).
    """

    def __init__(self, cfg):
        super().__init__()
        dim, t, bias, nf = cfg['dim'], cfg['num_frames'], cfg['bias'], cfg['num_flows']
        cin, scale = cfg['in_channels'], cfg['scale']
        kd, kr = cfg['degradation_kernel_size'], cfg['restoration_kernel_size']
        self.scale, self.kernel_size = scale, kr
        self.feature_extractor = _feature_extractor(cin + dim, dim, cfg['num_rdb'],
                                                    cfg['growth_rate'], cfg['num_dense_layers'],
                                                    bias)
        self.frma_blocks = _frma_blocks(cfg, is_da=True)
        self.f_conv1 = frame_conv_pair(3 * nf, 3 * nf, 3 * nf, bias)
        # 3x3x3: the only layers that mix frames
        self.d_conv = frame_conv_pair(kd * kd, dim, dim, bias, kernel_size=(3, 3, 3))
        self.res_conv1 = nn.Conv2d(dim, dim, 3, padding=1, bias=bias)
        self.res_conv2 = nn.Conv2d(dim, cin, 3, padding=1, bias=bias)
        self.upsample = PixelShuffleBlock(dim, bias)
        if scale != 4:
            raise ValueError(f'FMA-Net upsamples x4 (two pixel shuffles), got scale={scale}')
        self.r_conv = frame_conv_pair(dim // t, dim, kr * kr * scale * scale, bias)
        self.f_conv2 = frame_conv_pair(3 * nf, 3 * nf, 3, bias)
        self.f_conv3 = frame_conv_pair(3 * nf + 2 * cin, 3 * nf, 3, bias)
        self.a_conv = frame_conv_pair(dim, dim, cin, bias)

    def project_kernels(self, kernels_d):
        """NetD's kernels (n, t, kd^2, h, w) -> the DA-attention feature (n, t, dim, h, w)."""
        return self.d_conv(kernels_d)

    def project_kernels_streamed(self, kernel_fn, t):
        """:meth:`project_kernels` with NetD's kernels given one frame at a time."""
        first = self.d_conv[0].forward_streamed(kernel_fn, t)
        return self.d_conv[2](F.leaky_relu(first, 0.2, inplace=True))

    #: output sub-pixels whose restoration kernels are made at once at inference (of s^2 = 16)
    kernel_chunk = 4

    #: LR rows per band of the x4 residual branch at inference (its x4 maps are the largest
    #: of the network: 90 channels of an 8-row band are 16 MB at 1280 columns)
    residual_band = 8

    def residual(self, fw):
        """The pixel-shuffle residual (n, 3, s*h, s*w) of ``fw`` (n, dim, h, w); at inference in
        bands of LR rows, each with the rows its output reads at every level (3 LR rows of
        halo; the x2 and x4 maps cropped to what the next convolution needs), so that the
        result is the same."""
        up = self.upsample
        h = fw.shape[-2]
        if torch.is_grad_enabled() or h <= self.residual_band:
            x = F.leaky_relu(self.res_conv1(fw), 0.2, inplace=True)
            return self.res_conv2(up(x))

        def crop(x, start, lo, hi):  # rows lo:hi (absolute) of a map whose first row is start
            return x[:, :, max(lo, start) - start:max(0, hi - start)], max(lo, start)

        out = None
        for a, b, y0, y1 in row_bands(h, self.residual_band, 3):
            x = F.leaky_relu(self.res_conv1(fw[:, :, a:b]), 0.2, inplace=True)
            x = F.leaky_relu(F.pixel_shuffle(up.conv1(x), 2), 0.2, inplace=True)
            # x2 rows 2*y0-2 : 2*y1+2 are read by conv2 for the x4 rows conv3 reads
            x, start = crop(x, 2 * a, 2 * y0 - 2, 2 * y1 + 2)
            x = F.leaky_relu(F.pixel_shuffle(up.conv2(x), 2), 0.2, inplace=True)
            x, start = crop(x, 2 * start, 4 * y0 - 2, 4 * y1 + 2)
            x = self.res_conv2(F.leaky_relu(up.conv3(x), 0.2, inplace=True))
            x, _ = crop(x, start, 4 * y0, 4 * y1)
            if out is None:
                out = x.new_empty(*x.shape[:2], 4 * h, x.shape[-1])
            out[:, :, 4 * y0:4 * y1] = x
            del x
        return out

    def forward(self, x, net_d_out, with_aux=False):
        t = x.shape[1]
        feat_d = net_d_out.pop('feat')
        if torch.is_grad_enabled():
            feat = per_frame(self.feature_extractor, torch.cat([x, feat_d], 2))
        else:  # the concatenated input one frame at a time, the outputs into NetD's buffer
            # (frame i of NetD's features is not read again once frame i's input is made)
            feat = per_frame(self.feature_extractor, (
                lambda i, fd=feat_d: torch.cat([x[:, i:i + 1], fd[:, i:i + 1]], 2), t),
                out=feat_d)
        del feat_d  # NetD's features are not used again
        centre = feat[:, t // 2].clone()  # a copy: a view would keep all frames alive
        kernel_feat = net_d_out.pop('kernel_feat')
        if callable(kernel_feat):  # made now, not alive during the feature extraction
            kernel_feat = kernel_feat()
        # handed over in one dict (no local reference to the flow-mask): each block frees the
        # maps it replaces, and overwrites the features without gradients
        state = dict(feat=feat, flow_mask=self.f_conv1(net_d_out.pop('flow_mask')))
        feat, fw, flow_mask = run_frma_blocks(self.frma_blocks, state, centre, kernel_feat)
        # the kernel feature, the centre query and (unless the anchor is asked for) the
        # features are not used again: freed before the x4 maps of the output are made
        del kernel_feat, centre
        anchor = self.a_conv(feat) if with_aux else None
        del feat
        res = self.residual(fw)
        image_flow_mask = self.f_conv2(flow_mask)
        _, warped = warp_clip(x, image_flow_mask, 1)
        centre_lr = x[:, t // 2:t // 2 + 1].expand(-1, t, -1, -1, -1)
        image_flow_mask = self.f_conv3(torch.cat([flow_mask, warped, centre_lr], 2))
        # FGDF upsampling, with the kernels KR of one frame at a time (without gradients in
        # chunks of ``kernel_chunk`` sub-pixels: 23 MB, not 92, for a 180x320 frame)
        fw_frames = channels_to_frames(fw, t)
        if torch.is_grad_enabled():
            def kernels(i):
                return self.r_conv(fw_frames[:, i:i + 1])[:, 0]
        else:
            def kernels(i):
                return frame_conv_pair_chunks(self.r_conv, fw_frames[:, i:i + 1],
                                              self.kernel_chunk * self.kernel_size ** 2)
        up, warped = fgdf_upsample(x, image_flow_mask, kernels, self.kernel_size, self.scale)
        out = dict(output=up + res)
        if with_aux:
            out.update(lr_warp=warped, anchor=anchor)
        return out


@MODELS.register_module()
class FMANet(BaseModule):
    """FMA-Net: joint x4 video super-resolution and deblurring (VSRDB).

    Paper: FMA-Net: Flow-Guided Dynamic Filtering and Iterative Feature Refinement with
    Multi-Attention for Joint Video Super-Resolution and Deblurring (CVPR 2024).

    NetD learns the degradation: from the blurry LR clip it predicts features, a multi-flow-mask
    (``num_flows`` flow-mask pairs per frame), an image flow-mask and position-wise degradation
    kernels, which reconstruct the blurry LR centre frame from the sharp HR clip by
    flow-guided dynamic downsampling (training only). NetR restores: from the blurry clip and
    NetD's features, flows and kernels it predicts restoration kernels and an image flow, and
    upsamples the warped LR clip by flow-guided dynamic filtering, plus a pixel-shuffle
    residual. Frames are RGB in [0, 1] (official weights convert to RGB).

    Args (official ``experiment.cfg`` names in brackets):
        stage (int): 1: NetD alone (its training stage); 2: NetD and NetR. Default: 2.
        in_channels (int): Image channels [in_channels]. Default: 3.
        dim (int): Feature channels [dim]. Default: 90.
        num_frames (int): Input frames T [num_seq]. Default: 3.
        degradation_kernel_size (int): kd [ds_kernel_size]. Default: 20.
        restoration_kernel_size (int): kr [us_kernel_size]. Default: 5.
        num_rdb (int): RDBs of the feature extractors' RRDB [num_RDB]. Default: 12.
        growth_rate (int): Dense-layer growth [growth_rate]. Default: 18.
        num_dense_layers (int): Dense layers per RDB [num_dense_layer]. Default: 4.
        num_flows (int): Flow-mask pairs n [num_flow]. Default: 9.
        num_frma (int): FRMA blocks M [num_FRMA]. Default: 4.
        num_attn_blocks (int): Multi-attention blocks per FRMA [num_transformer_block].
            Default: 2.
        num_heads (int): Attention heads [num_heads]. Default: 6.
        layer_norm_type (str): 'WithBias' or 'BiasFree' [LayerNorm_type]. Default: 'WithBias'.
        ffn_expansion_factor (float): GDFN expansion [ffn_expansion_factor]. Default: 2.66.
        bias (bool): Conv biases [bias]. Default: False.
        scale (int): Upsampling factor [scale]; 4 (the architecture's). Default: 4.
        init_cfg (dict, optional): Initialisation config. Default: None.
    """

    def __init__(self, stage=2, in_channels=3, dim=90, num_frames=3, degradation_kernel_size=20,
                 restoration_kernel_size=5, num_rdb=12, growth_rate=18, num_dense_layers=4,
                 num_flows=9, num_frma=4, num_attn_blocks=2, num_heads=6,
                 layer_norm_type='WithBias', ffn_expansion_factor=2.66, bias=False, scale=4,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if stage not in (1, 2):
            raise ValueError(f'stage must be 1 (NetD alone) or 2 (NetD + NetR), got {stage}')
        if num_frames < 1 or num_frames % 2 == 0:
            raise ValueError(f'num_frames must be odd (a centre frame), got {num_frames}')
        cfg = dict(in_channels=in_channels, dim=dim, num_frames=num_frames,
                   degradation_kernel_size=degradation_kernel_size,
                   restoration_kernel_size=restoration_kernel_size, num_rdb=num_rdb,
                   growth_rate=growth_rate, num_dense_layers=num_dense_layers,
                   num_flows=num_flows, num_frma=num_frma, num_attn_blocks=num_attn_blocks,
                   num_heads=num_heads, layer_norm_type=layer_norm_type,
                   ffn_expansion_factor=ffn_expansion_factor, bias=bias, scale=scale)
        self.stage, self.num_frames, self.scale = stage, num_frames, scale
        self.in_channels = in_channels
        self.degradation_kernel_size = degradation_kernel_size
        self.net_d = NetD(cfg)
        self.net_r = NetR(cfg) if stage == 2 else None
        # what inference needs (VideoDeblurEditor): a sliding window, the centre frame x scale
        self.inference_spec = dict(mode='window', window_frames=num_frames, scale=scale)

    #: NetD's kernel channels made at once at inference, streamed into NetR's kernel
    #: projection (of the kd^2 = 400 per frame; 100 channels of a 180x320 frame are 23 MB)
    kernel_chunk = 100

    #: LR rows per band of the kernel feature at inference (its 3 x kd^2-channel kernels and
    #: NetR's first projection exist for one band at a time; a band reads 4 rows more on each
    #: side, 9 % more work for this step at 180 rows)
    kernel_band = 64

    def kernel_feat_in_bands(self, fw_d):
        """NetR's projection of NetD's kernels, the DA-attention feature (n, t, dim, h, w),
        from NetD's fused features ``fw`` (n, t * dim', h, w) without gradients: NetD's
        kernels are made one frame and ``kernel_chunk`` channels at a time, for one band of
        rows at a time with the 4-row halo of the two conv pairs (NetD's 1x3x3, NetR's
        3x3x3), so that the result is the same."""
        t = self.num_frames

        def band(a, b):
            rows = fw_d[..., a:b, :]
            return self.net_r.project_kernels_streamed(
                lambda i: self.net_d.kernels_of_frame(rows, i, t, self.kernel_chunk), t)

        return map_in_row_bands(band, fw_d.shape[-2], self.kernel_band, 4)

    def _check_input(self, lqs):
        check_video(lqs, 'FMA-Net input', channels=self.in_channels)
        if lqs.shape[1] != self.num_frames:
            raise ValueError(f'FMA-Net takes windows of exactly {self.num_frames} frames '
                             f'(n, {self.num_frames}, {self.in_channels}, h, w), got '
                             f'{tuple(lqs.shape)}; whole videos go through the model wrapper '
                             f'(sliding windows)')

    def forward(self, lqs):
        """The restored HR centre frame (n, 3, 4h, 4w) of blurry LR windows (n, T, 3, h, w)."""
        self._check_input(lqs)
        if self.net_r is None:
            raise ValueError('a stage-1 FMA-Net (NetD alone) restores nothing: it learns the '
                             'degradation from sharp HR frames; build it with stage=2')
        if torch.is_grad_enabled():
            d = self.net_d(lqs)
            d['kernel_feat'] = self.net_r.project_kernels(d.pop('kernels'))
        else:
            # NetD's kernels (t * kd^2 channels: 276 MB for three 180x320 frames) one frame at a
            # time, straight into NetR's first (3x3x3) kernel projection; made by NetR after its
            # feature extraction (the function holds the only reference to NetD's ``fw``)
            d = self.net_d(lqs, with_kernels=False)
            d['kernel_feat'] = lambda fw_d=d.pop('fw'): self.kernel_feat_in_bands(fw_d)
        # NetR takes NetD's features, flow-masks and the kernel feature out of ``d``: the only
        # references, freed once used
        return self.net_r(lqs, d)['output']

    def forward_train(self, lqs, hr_frames=None):
        """Every output the training losses use.

        Args:
            lqs (Tensor): Blurry LR windows (n, T, 3, h, w).
            hr_frames (Tensor, optional): The sharp HR windows (n, T, 3, 4h, 4w); with them NetD
                reconstructs the blurry LR centre frame (needed in both stages' losses).

        Returns:
            dict: ``recon`` (n, 3, h, w), ``hr_warp`` (n, T, 3, 4h, 4w) and ``image_flow``
            (n, T, 2, h, w) (with ``hr_frames``); ``anchor_d`` (n, T, 3, h, w); stage 2 adds
            ``output`` (n, 3, 4h, 4w), ``lr_warp`` (n, T, 3, h, w) and ``anchor_r``.
        """
        self._check_input(lqs)
        d = self.net_d(lqs, with_aux=True)
        out = dict(anchor_d=d['anchor'], image_flow=d['image_flow_mask'][:, :, :2])
        if hr_frames is not None:
            n, t, _, h, w = lqs.shape
            if hr_frames.shape != (n, t, self.in_channels, h * self.scale, w * self.scale):
                raise ValueError(f'hr_frames must be the x{self.scale} sharp windows '
                                 f'{(n, t, self.in_channels, h * self.scale, w * self.scale)}'
                                 f', got {tuple(hr_frames.shape)}')
            out['recon'], out['hr_warp'] = fgdf_downsample(
                hr_frames, d['image_flow_mask'], d['kernels'], self.degradation_kernel_size,
                self.scale)
        if self.net_r is not None:
            r = self.net_r(lqs, dict(feat=d['feat'], flow_mask=d['flow_mask'],
                                     kernel_feat=self.net_r.project_kernels(d['kernels'])),
                           with_aux=True)
            out.update(output=r['output'], lr_warp=r['lr_warp'], anchor_r=r['anchor'])
        return out
