"""BSSTNet: blur maps from optical flow, blur-aware bidirectional feature propagation (BBFP) and
the blur-aware spatio-temporal sparse transformer (BSST)."""
import torch
import torch.nn.functional as F
from mmagic.models.archs import PixelShufflePack  # same keys (``upsample_conv``) as official
from mmagic.models.utils import flow_warp
from mmagic.registry import MODELS
from mmengine.model import BaseModule
from torch import nn

from ...layers.checks import check_video
from .bsstnet_blur_map import blur_map_from_flows
from .bsstnet_cnn_blocks import CAB, CAB1, CAB2, SkipUpSample, conv
from .bsstnet_flow_refiner import RecurrentFlowCompleteNet
from .bsstnet_propagation import BlurAwareDeformableAlignment, forward_backward_consistency
from .bsstnet_shift_blocks import EncoderShiftBlock
from .bsstnet_sparse_transformer import BlurAwareSparseTransformer
from .bsstnet_swin3d import RSTBWithInputConv

PROPAGATION_BRANCHES = ('backward_1', 'forward_1', 'backward_2', 'forward_2')


@MODELS.register_module()
class BSSTNet(BaseModule):
    """BSSTNet generator.

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    Pipeline (as the official ``BSST`` architecture; parameter names are the official ones, so
    converted official checkpoints load with ``strict=True``):

    1. Blur maps from the neighbour flows (min-max over the clip), flows refined by a recurrent
       flow-completion net guided by the blur maps, blur maps recomputed from the refined flows.
    2. A CNN encoder (CAB blocks) to ``mid_channels`` features at 1/4 resolution.
    3. BBFP: BasicVSR++-style second-order bidirectional propagation (two rounds) whose
       flow-guided deformable alignment weights sharp, flow-consistent neighbours more.
    4. A 3-D Swin reconstruction block over the five feature streams.
    5. BSST over the 1/4-resolution features, its token selection driven by the blur maps.
    6. A decoder with temporal/spatial shift blocks back to full resolution; the output is a
       residual on the input frames.

    The official network only runs on 256×256 clips (hard-coded fold sizes); this one runs on
    any size divisible by 16 (the flow refiner works at 1/4 of the 1/4-resolution flows) and any
    clip length >= 2.

    Args:
        mid_channels (int): Channels at 1/4 resolution (propagation, transformer input).
            Default: 192.
        enc_channels (int): Channels at full and 1/2 resolution. Default: 64.
        max_residue_magnitude (float): Bound of the deformable offset residues. Default: 5.
        swin_cfg (dict): Overrides of the reconstruction block (``num_blocks``, ``depth``,
            ``num_heads``, ``window_size``, ``mlp_ratio``). Default: the official
            (2 blocks, depth 2, 6 heads, window (2, 8, 8), mlp ratio 2).
        transformer_cfg (dict): Arguments of :class:`BlurAwareSparseTransformer` (``embed_dim``,
            ``num_heads``, ``window_size``, ``pool_size``, ``depth``, ``threshold``,
            ``num_selected``, ``official_aliasing``, ``sparse`` …). Default: the official
            (512 dims, 4 heads, 8×8 windows, 4×4 pooling, depth 4, θ = 0.3).
        refine_flows (bool): Refine the flows with the blur-guided flow-completion net.
            Default: True.
        blur_map_eps (float): Added to the min-max normaliser of the blur maps. The official
            uses 0, which gives NaN for a motionless clip. Default: 1e-6.
        cpu_cache_length (int): Clips longer than this keep the propagated features on the
            CPU (GPU memory for long clips; slower). Default: 100.
        init_cfg (dict, optional): mmengine init config. Default: None.
    """

    # what inference needs (read by VideoDeblurEditor): whole clips, sizes divisible by 16
    inference_spec = dict(mode='sequence', size_multiple=16, min_size=64)

    def __init__(self, mid_channels=192, enc_channels=64, max_residue_magnitude=5.0,
                 swin_cfg=None, transformer_cfg=None, refine_flows=True, blur_map_eps=1e-6,
                 cpu_cache_length=100, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        c, e = mid_channels, enc_channels
        self.mid_channels = mid_channels
        self.blur_map_eps = blur_map_eps
        self.cpu_cache_length = cpu_cache_length
        act = nn.LeakyReLU(negative_slope=0.1, inplace=True)
        self.act = act

        # encoder: full → 1/2 → 1/4 resolution
        self.concat = nn.Sequential(nn.Conv2d(3, e, 3, 1, 1, bias=False), act,
                                    CAB(e, 3, bias=False, act=act))
        self.down01 = nn.Sequential(nn.Conv2d(e, e, 3, 2, 1, bias=False), act)
        self.encoder_level1 = CAB(e, 3, bias=False, act=act)
        self.encoder_level1_1 = CAB(e, 3, bias=False, act=act)
        self.down12 = nn.Sequential(nn.Conv2d(e, c, 3, 2, 1, bias=False), act)
        self.encoder_level2 = CAB(c, 3, bias=False, act=act)
        self.encoder_level2_1 = CAB(c, 3, bias=False, act=act)

        # blur-guided flow refinement
        self.blur_motion_refine = RecurrentFlowCompleteNet() if refine_flows else None

        # BBFP: blur-aware second-order bidirectional propagation
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for i, name in enumerate(PROPAGATION_BRANCHES):
            self.deform_align[name] = BlurAwareDeformableAlignment(
                2 * c, c, 3, padding=1, deform_groups=16,
                max_residue_magnitude=max_residue_magnitude)
            self.backbone[name] = nn.Sequential(
                nn.Conv2d((2 + i) * c, c, 3, 1, 1), act, CAB1(c, 3, bias=False))

        # fusion of the five streams (3-D Swin, as RVRT)
        swin = dict(num_blocks=2, depth=2, num_heads=6, window_size=(2, 8, 8), mlp_ratio=2.)
        swin.update(swin_cfg or {})
        self.reconstruction = RSTBWithInputConv(
            in_channels=5 * c, kernel_size=(1, 3, 3), groups=3, num_blocks=swin['num_blocks'],
            dim=c, depth=swin['depth'], num_heads=swin['num_heads'],
            window_size=swin['window_size'], mlp_ratio=swin['mlp_ratio'], qkv_bias=True)

        # BSST and its fusion with the input features
        trans = dict(in_channels=c)
        trans.update(transformer_cfg or {})
        self.bsst = BlurAwareSparseTransformer(**trans)
        self.cabattn = nn.Sequential(CAB2(c, 5, bias=False, add_channel=c), CAB1(c, 5, bias=False))

        # decoder: 1/4 → 1/2 → full resolution
        self.up21 = SkipUpSample(e, c - e)
        self.skip_attn1 = CAB(e, 3, bias=False, act=act)
        self.decoder_level1 = EncoderShiftBlock(e, bias=False)
        self.decoder_level1_1 = EncoderShiftBlock(e, bias=False)
        self.upsample0 = PixelShufflePack(e, e, 2, upsample_kernel=3)
        self.conv_hr0 = conv(e, e, 3, bias=False)
        self.skip_conv = CAB(e, 3, bias=False, act=act)
        self.out_conv = CAB(e, 3, bias=False, act=act)
        self.last_conv = conv(e, 3, 3, bias=False)

    # ------------------------------------------------------------------ checks
    def check_inputs(self, lqs, flows_forward, flows_backward):
        # at least 2 frames: the blur maps come from flows between neighbours
        check_video(lqs, 'lqs', channels=3, min_frames=2)
        n, t, _, h, w = lqs.shape
        if h % 16 or w % 16:
            raise ValueError(f'BSSTNet needs frame sizes divisible by 16, got {h}x{w}; pad the '
                             'frames (the test and inference paths do this)')
        expected = (n, t - 1, 2, h // 4, w // 4)
        for name, flow in (('flows_forward', flows_forward), ('flows_backward', flows_backward)):
            if tuple(flow.shape) != expected:
                raise ValueError(f'{name} must be (n, t-1, 2, h/4, w/4) = {expected} for input '
                                 f'{tuple(lqs.shape)}, got {tuple(flow.shape)}')

    # ------------------------------------------------------------------ stages
    def encode(self, frames):
        """(m, 3, h, w) → shortcut (m, e, h, w), 1/2 (m, e, h/2, w/2), 1/4 (m, c, h/4, w/4)."""
        shortcut = self.concat(frames)
        enc1 = self.encoder_level1_1(self.encoder_level1(self.down01(shortcut)))
        enc2 = self.encoder_level2_1(self.encoder_level2(self.down12(enc1)))
        return shortcut, enc1, enc2

    def blur_maps(self, flows_forward, flows_backward):
        """Refined flows and the blur map (n, t, 1, h/4, w/4) they give (no gradient)."""
        if self.blur_motion_refine is not None:
            coarse = blur_map_from_flows(flows_forward, flows_backward, self.blur_map_eps)
            flows_forward, flows_backward = self.blur_motion_refine.forward_bidirect_flow(
                coarse, [flows_forward, flows_backward])
        blur = blur_map_from_flows(flows_forward, flows_backward, self.blur_map_eps).detach()
        return flows_forward, flows_backward, blur

    @staticmethod
    def _visit_order(t, backward):
        """Frames in the order a branch visits them, and the flow each step arrives by."""
        frame_idx = list(range(t))
        flow_idx = list(range(-1, t - 1))
        if backward:
            frame_idx = frame_idx[::-1]
            flow_idx = frame_idx
        return frame_idx, flow_idx

    def flow_guidance(self, flows, flows_check, sharp, backward):
        """What a branch's alignment takes from the flows and sharp maps alone, for all its
        steps at once: the same for both rounds of a direction, so computed once each.

        Returns:
            list: Per visited frame (None for the first): ``(sharp_n1, valid_n1, flow_n2,
            sharp_n2, valid_n2)``, the neighbours' warped sharp maps, the flow consistency
            masks and the chained flow two steps back (the last three None for the second
            frame, which has one neighbour).
        """
        n, t = sharp.shape[:2]
        frame_idx, flow_idx = self._visit_order(t, backward)

        def warp(x, flow):
            return flow_warp(x, flow.permute(0, 2, 3, 1))

        # steps 1 .. t-1, batched: (n * (t - 1), ...) in (batch, step) order
        flow_n1 = flows[:, flow_idx[1:]].flatten(0, 1)
        check_n1 = flows_check[:, flow_idx[1:]].flatten(0, 1)
        sharp_n1 = warp(sharp[:, frame_idx[:-1]].flatten(0, 1), flow_n1)
        valid_n1 = forward_backward_consistency(flow_n1, check_n1)
        steps = [sharp_n1.unflatten(0, (n, t - 1)), valid_n1.unflatten(0, (n, t - 1))]
        second = [None] * 3
        if t > 2:  # steps 2 .. t-1: chain the two flows to reach the frame two steps back
            f1 = flow_n1.unflatten(0, (n, t - 1))[:, 1:].flatten(0, 1)
            c1 = check_n1.unflatten(0, (n, t - 1))[:, 1:].flatten(0, 1)
            flow_n2 = f1 + warp(flows[:, flow_idx[1:-1]].flatten(0, 1), f1)
            check_n2 = c1 + warp(flows_check[:, flow_idx[1:-1]].flatten(0, 1), c1)
            sharp_n2 = warp(sharp[:, frame_idx[:-2]].flatten(0, 1), flow_n2)
            valid_n2 = forward_backward_consistency(flow_n2, check_n2)
            second = [x.unflatten(0, (n, t - 2)) for x in (flow_n2, sharp_n2, valid_n2)]
        guidance = [None]
        for i in range(1, t):
            n1 = [x[:, i - 1] for x in steps]
            n2 = [None] * 3 if i == 1 else [x[:, i - 2] for x in second]
            guidance.append((*n1, *n2))
        return guidance

    def propagate(self, feats, flows, flows_check, sharp, name, guidance=None):
        """One propagation branch (BasicVSR++'s second-order grid with blur-aware alignment).

        Args:
            feats (dict[str, list[Tensor]]): Per-frame features of the encoder ('spatial') and
                of the earlier branches, in order.
            flows (Tensor): (n, t-1, 2, h, w) flows towards the previously visited frame.
            flows_check (Tensor): The opposite flows, for the consistency check.
            sharp (Tensor): Sharp maps 1 - blur, (n, t, 1, h, w).
            name (str): Branch name ('backward_1', …).
            guidance (list, optional): :meth:`flow_guidance` of these flows (computed if
                None).
        """
        n, t = sharp.shape[:2]
        h, w = flows.shape[-2:]
        backward = name.startswith('backward')
        frame_idx, flow_idx = self._visit_order(t, backward)
        if guidance is None:
            guidance = self.flow_guidance(flows, flows_check, sharp, backward)
        cache = t > self.cpu_cache_length and flows.is_cuda  # long clips: features on the CPU
        device = flows.device
        feat_prop = flows.new_zeros(n, self.mid_channels, h, w)
        # as the official code (unlike BasicVSR++), the "current" features a branch aligns
        # to are the previous branch's output, not the encoder's
        previous = list(feats)[-1]
        feats[name] = []
        c = self.mid_channels
        align = self.deform_align[name]
        for i, idx in enumerate(frame_idx):
            feat_current = feats[previous][idx].to(device)
            if i > 0:
                flow_n1 = flows[:, flow_idx[i]]
                sharp_n1, valid_n1, flow_n2, sharp_n2, valid_n2 = guidance[i]
                cond_n1 = flow_warp(feat_prop, flow_n1.permute(0, 2, 3, 1))
                if i == 1:
                    # no second neighbour yet: its feature, flow, warped feature, sharp map
                    # and validity are zero, so only the first neighbour's part is computed
                    # (the same result as the full alignment of those zeros)
                    extra = torch.cat([cond_n1, feat_current, sharp_n1, sharp[:, idx], valid_n1],
                                      dim=1)
                    feat_prop = align.forward_first_order(
                        feat_prop, extra, flow_n1, sharp_n1 * valid_n1,
                        [*range(2 * c), 3 * c, 3 * c + 1, 3 * c + 3])
                else:
                    feat_n2 = feats[name][-2].to(device)
                    cond_n2 = flow_warp(feat_n2, flow_n2.permute(0, 2, 3, 1))
                    cond = torch.cat([cond_n1, feat_current, cond_n2, sharp_n1, sharp[:, idx],
                                      sharp_n2, valid_n1, valid_n2], dim=1)
                    feat_prop = align(torch.cat([feat_prop, feat_n2], dim=1), cond, flow_n1,
                                      flow_n2, sharp_n1 * valid_n1, sharp_n2 * valid_n2)
            # the current frame's features from every earlier branch, then this one's
            earlier = [feats[k][idx].to(device) for k in feats if k != name]
            if i == 0:
                # the propagated feature is still zero: leave its input channels out
                feat_prop = self._backbone_without_last_input(name, torch.cat(earlier, dim=1))
            else:
                feat = torch.cat(earlier + [feat_prop], dim=1)
                feat_prop = feat_prop + self.backbone[name](feat)
            feats[name].append(feat_prop.cpu() if cache else feat_prop)
        if backward:
            feats[name] = feats[name][::-1]
        return feats

    def _backbone_without_last_input(self, name, feat):
        """``backbone[name]`` of ``cat(feat, zeros)``: its first conv reads only the
        channels of ``feat``."""
        conv, *rest = self.backbone[name]
        x = F.conv2d(feat, conv.weight[:, :feat.size(1)], conv.bias, conv.stride, conv.padding)
        for module in rest:
            x = module(x)
        return x

    # ------------------------------------------------------------------ forward
    def forward(self, lqs, flows_forward, flows_backward):
        """Deblur a clip.

        Args:
            lqs (Tensor): Blurry frames (n, t, 3, h, w) in [0, 1]; h, w divisible by 16.
            flows_forward (Tensor): (n, t-1, 2, h/4, w/4); entry i: frame i+1 → frame i.
            flows_backward (Tensor): (n, t-1, 2, h/4, w/4); entry i: frame i → frame i+1.

        Returns:
            Tensor: Restored frames (n, t, 3, h, w).
        """
        self.check_inputs(lqs, flows_forward, flows_backward)
        n, t, _, h, w = lqs.shape
        # the per-frame CNN stages (encoder, decoder) run channels last: their convolutions,
        # upsamplings and pixel shuffle are faster there, the shift blocks work on the last
        # dim anyway; the propagation (deformable convolutions) and the transformer use NCHW
        frames = lqs.flatten(0, 1).contiguous(memory_format=torch.channels_last)
        shortcut, enc1, enc2 = self.encode(frames)
        spatial = enc2.contiguous().view(n, t, *enc2.shape[1:])

        flows_forward, flows_backward, blur = self.blur_maps(flows_forward, flows_backward)
        sharp = 1 - blur

        feats = {'spatial': [spatial[:, i] for i in range(t)]}
        directions = {'backward': (flows_backward, flows_forward),
                      'forward': (flows_forward, flows_backward)}
        # the flow-only inputs of the alignments are the same in both rounds
        guidance = {d: self.flow_guidance(*directions[d], sharp, d == 'backward')
                    for d in directions}
        for round_ in (1, 2):
            for direction, (flows, check) in directions.items():
                feats = self.propagate(feats, flows, check, sharp, f'{direction}_{round_}',
                                       guidance[direction])

        device = lqs.device
        streams = torch.cat([torch.stack([f.to(device) for f in feats[k]], dim=1)
                             for k in ('spatial',) + PROPAGATION_BRANCHES], dim=2)
        del feats
        fused = self.reconstruction(streams)  # (n, t, c, h/4, w/4)
        trans = self.bsst(fused, blur)
        # cabattn of cat(fused, trans), without building the concatenation for CAB2 to split
        cab2, cab1 = self.cabattn
        feat = cab1(cab2.forward_split(fused.flatten(0, 1), trans.flatten(0, 1)))

        x = self.up21(feat, self.skip_attn1(enc1))
        # the shift blocks treat their batch as the time axis: one clip at a time
        x = torch.cat([self.decoder_level1_1(self.decoder_level1(clip))
                       for clip in x.split(t)])
        x = self.conv_hr0(self.act(self.upsample0(x))) + self.skip_conv(shortcut)
        x = self.last_conv(self.out_conv(x))
        return lqs + x.view(n, t, 3, h, w)  # lqs first: the output keeps its (NCHW) layout
