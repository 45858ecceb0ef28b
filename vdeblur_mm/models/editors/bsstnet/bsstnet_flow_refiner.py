# Ported from sczhou/ProPainter (recurrent_flow_completion.py), S-Lab License 1.0 (non-commercial)
"""BSSTNet's flow refiner: ProPainter's recurrent flow-completion network, as BSSTNet uses it.

Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024); the
network comes from ProPainter (Improving Propagation and Transformer for Video Inpainting,
ICCV 2023), trimmed by BSSTNet to one encoder/decoder level and without the edge head.

BSSTNet feeds it the RAFT flows at 1/4 image resolution together with the blur map computed
from them, and it returns refined flows (the input flows plus a predicted residual). Its layout
(module and parameter names) is the official one, so the official checkpoint's
``blur_motion_refine.*`` entries load with ``strict=True`` once the prefix is stripped.

Semantics worth knowing (all as the official code):

* The input of each frame is ``cat(blur map, flow)``, 3 channels (the blur map plays the
  role of ProPainter's inpainting mask).
* The feature propagation is purely deformable: second-order deformable alignment whose
  offsets are predicted from ``[propagated feature, current feature, second-order feature]``
  with no optical-flow guidance and no warping.
* ``forward_bidirect_flow`` runs the net twice: on the backward flows with the blur maps of
  frames ``1..t-1`` and, reversed in time, on the forward flows with the blur maps of frames
  ``0..t-2`` (the flow values are not negated). With BSSTNet's flow convention
  (``flows_forward[i]`` lives on frame ``i+1``, ``flows_backward[i]`` on frame ``i``) each
  flow is thus paired with the blur map of the frame it points to.
* The last convolution is zero-initialised, so a fresh net returns its input flows exactly.
"""
import os.path as osp

import torch
import torch.nn.functional as F
from torch import nn

from ....utils.checkpoint import load_checkpoint_file, strip_prefix, unwrap_state_dict
from ...layers.checks import check_tensor
from .bsstnet_dcn import SecondOrderDCN


class SecondOrderDeformableAlignment(SecondOrderDCN):
    """Second-order deformable alignment without flow guidance (ProPainter's propagation).

    Offsets and modulation masks are predicted by ``conv_offset`` from ``extra_feat``;
    offsets are bounded by ``max_residue_magnitude * tanh``. ``conv_offset``'s last layer is
    zero-initialised: a fresh module samples the regular grid with masks of 0.5.

    Args:
        in_channels (int): Input channels (both neighbours' features, 2C).
        out_channels (int): Output channels C.
        kernel_size (int): Kernel size. Default: 3.
        padding (int): Padding. Default: 1.
        deform_groups (int): Deformable groups. Default: 16.
        max_residue_magnitude (float): Bound of the offsets. Default: 5.
        extra_channels (int, optional): Channels of ``extra_feat``; None means
            ``3 * out_channels`` (official). Default: None.
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, padding=1, deform_groups=16,
                 max_residue_magnitude=5.0, extra_channels=None):
        super().__init__(
            in_channels, out_channels, kernel_size, padding, deform_groups, max_residue_magnitude,
            offset_in_channels=3 * out_channels if extra_channels is None else extra_channels)

    def offsets_and_masks(self, extra_feat):
        """Offsets (n, 2*dg*k, h, w) and masks (n, dg*k, h, w) in [0, 1]."""
        offset, mask = self.bounded_offsets_and_mask_logits(extra_feat)
        return offset, torch.sigmoid(mask)

    def forward(self, x, extra_feat):
        """Deformable convolution of ``x`` (n, 2C, h, w) steered by ``extra_feat`` (n, 3C, h, w).

        Returns:
            Tensor: (n, C, h, w).
        """
        offset, mask = self.offsets_and_masks(extra_feat)
        return self.deform(x, offset, mask)


class BidirectionalPropagation(nn.Module):
    """Backward then forward second-order recurrent propagation, fused by a 1x1 conv.

    Args:
        channel (int): Feature channels C.
    """

    directions = ('backward_', 'forward_')

    def __init__(self, channel):
        super().__init__()
        self.channel = channel
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for i, name in enumerate(self.directions):
            self.deform_align[name] = SecondOrderDeformableAlignment(
                2 * channel, channel, 3, padding=1, deform_groups=16)
            self.backbone[name] = nn.Sequential(
                nn.Conv2d((2 + i) * channel, channel, 3, 1, 1),
                nn.LeakyReLU(negative_slope=0.1, inplace=True),
                nn.Conv2d(channel, channel, 3, 1, 1),
            )
        self.fusion = nn.Conv2d(2 * channel, channel, 1, 1, 0)

    def forward(self, x):
        """Propagate features along time.

        Args:
            x (Tensor): (b, t, C, h, w).

        Returns:
            Tensor: (b, t, C, h, w), the fused propagated features plus ``x``.
        """
        b, t, _, h, w = x.shape
        spatial = x.unbind(1)
        feats = {}
        for name in self.directions:
            frame_idx = range(t - 1, -1, -1) if name == 'backward_' else range(t)
            props = []
            feat_prop = x.new_zeros(b, self.channel, h, w)
            for i, idx in enumerate(frame_idx):
                feat_current = spatial[idx]
                if i > 0:
                    feat_n2 = props[-2] if i > 1 else torch.zeros_like(feat_prop)
                    cond = torch.cat([feat_prop, feat_current, feat_n2], dim=1)
                    feat_prop = self.deform_align[name](torch.cat([feat_prop, feat_n2], dim=1),
                                                        cond)
                # the current frame, the earlier directions' features there, the propagated one
                feat = torch.cat([feat_current] + [feats[k][idx] for k in feats] + [feat_prop],
                                 dim=1)
                feat_prop = feat_prop + self.backbone[name](feat)
                props.append(feat_prop)
            feats[name] = props[::-1] if name == 'backward_' else props
        outputs = [self.fusion(torch.cat([feats[k][i] for k in self.directions], dim=1))
                   for i in range(t)]
        return torch.stack(outputs, dim=1) + x


class deconv(nn.Module):  # noqa: N801 (official name, part of the state-dict keys' structure)
    """Bilinear x2 upsampling (align_corners=True) followed by a convolution."""

    def __init__(self, input_channel, output_channel, kernel_size=3, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(input_channel, output_channel, kernel_size=kernel_size, stride=1,
                              padding=padding)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True)
        return self.conv(x)


class P3DBlock(nn.Module):
    """Pseudo-3D block: a (1, k, k) spatial conv + LeakyReLU(0.2), then a (3, 1, 1) temporal
    conv with dilation 2 (zero-padded in time, so the length is kept)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, use_residual=0,
                 bias=True):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv3d(in_channels, out_channels, kernel_size=(1, kernel_size, kernel_size),
                      stride=(1, stride, stride), padding=(0, padding, padding), bias=bias),
            nn.LeakyReLU(0.2, inplace=True))
        self.conv2 = nn.Sequential(
            nn.Conv3d(out_channels, out_channels, kernel_size=(3, 1, 1), stride=(1, 1, 1),
                      padding=(2, 0, 0), dilation=(2, 1, 1), bias=bias))
        self.use_residual = use_residual

    def forward(self, feats):
        out = self.conv2(self.conv1(feats))
        return feats + out if self.use_residual else out


class RecurrentFlowCompleteNet(nn.Module):
    """BSSTNet's flow refiner (ProPainter's recurrent flow-completion net, 1 level, no edges).

    The input (blur map, flow) sequence is encoded to 1/4 of the flow resolution (a 5x5 stride-2
    Conv3d with replicate padding, two pseudo-3D blocks, three dilated convs), propagated
    backward and forward with second-order deformable alignment (64 channels, 16 deformable
    groups), decoded back to full size with two bilinear x2 upsamplings, and the result is
    added to the input flows. The final convolution is zero-initialised.

    Args:
        model_path (str, optional): Local state dict to load (``strict=True``); a dict wrapping
            it under 'params_ema', 'params' or 'state_dict', and the prefix
            'blur_motion_refine.' or 'module.', are accepted. Nothing is downloaded.
            Unlike the official constructor, which zeroes the last convolution again after
            loading, the loaded weights are kept. Default: None.
    """

    def __init__(self, model_path=None):
        super().__init__()
        self.downsample = nn.Sequential(
            nn.Conv3d(3, 32, kernel_size=(1, 5, 5), stride=(1, 2, 2), padding=(0, 2, 2),
                      padding_mode='replicate'),
            nn.LeakyReLU(0.2, inplace=True))
        self.encoder1 = nn.Sequential(
            P3DBlock(32, 32, 3, 1, 1),
            nn.LeakyReLU(0.2, inplace=True),
            P3DBlock(32, 64, 3, 2, 1),
            nn.LeakyReLU(0.2, inplace=True))  # 1/4
        self.mid_dilation = nn.Sequential(
            nn.Conv3d(64, 64, (1, 3, 3), (1, 1, 1), padding=(0, 3, 3), dilation=(1, 3, 3)),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv3d(64, 64, (1, 3, 3), (1, 1, 1), padding=(0, 2, 2), dilation=(1, 2, 2)),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv3d(64, 64, (1, 3, 3), (1, 1, 1), padding=(0, 1, 1), dilation=(1, 1, 1)),
            nn.LeakyReLU(0.2, inplace=True))
        self.feat_prop_module = BidirectionalPropagation(64)
        self.decoder1 = nn.Sequential(
            nn.Conv2d(64, 64, 3, 1, 1),
            nn.LeakyReLU(0.2, inplace=True),
            deconv(64, 32, 3, 1),
            nn.LeakyReLU(0.2, inplace=True))  # 1/2
        self.upsample = nn.Sequential(
            nn.Conv2d(32, 32, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            deconv(32, 2, 3, 1))
        self.init_weights()
        if model_path is not None:
            self.load_state_dict(self._read_checkpoint(model_path), strict=True)

    def init_weights(self):
        """The official special initialisation: zero deformable offsets, zero last conv."""
        for m in self.modules():
            if isinstance(m, SecondOrderDeformableAlignment):
                m.init_offset()
        nn.init.zeros_(self.upsample[-1].conv.weight)
        nn.init.zeros_(self.upsample[-1].conv.bias)

    @staticmethod
    def _read_checkpoint(path):
        if not osp.isfile(path):
            raise FileNotFoundError(f'flow-refiner weights {path!r} do not exist (nothing is '
                                    'downloaded: pass a local file)')
        state = unwrap_state_dict(load_checkpoint_file(path))
        for prefix in ('module.', 'blur_motion_refine.'):
            if state and all(k.startswith(prefix) for k in state):
                state = strip_prefix(state, prefix)
        return state

    def forward(self, blur_motion_map, flows):
        """Refine one direction of flows.

        Args:
            blur_motion_map (Tensor): (b, t, 1, h, w).
            flows (Tensor): (b, t, 2, h, w), with h and w multiples of 4.

        Returns:
            Tensor: Refined flows (b, t, 2, h, w): ``flows`` plus the predicted residual.
        """
        check_tensor(blur_motion_map, 'blur_motion_map', 5, '(b, t, 1, h, w)',
                     (None, None, 1, None, None))
        check_tensor(flows, 'flows', 5, '(b, t, 2, h, w)', (None, None, 2, None, None))
        if blur_motion_map.shape[:2] != flows.shape[:2] or \
                blur_motion_map.shape[-2:] != flows.shape[-2:]:
            raise ValueError(f'blur map {tuple(blur_motion_map.shape)} and flows '
                             f'{tuple(flows.shape)} must agree in batch, time and size')
        b, t, _, h, w = flows.shape
        if h % 4 or w % 4:
            raise ValueError(f'the flow size must be a multiple of 4 (the net works at 1/4 '
                             f'of it), got {h}x{w}')
        inputs = torch.cat((blur_motion_map, flows), dim=2).transpose(1, 2)  # b 3 t h w
        x = self.downsample(inputs)
        feat_e1 = self.encoder1(x)  # b 64 t h/4 w/4
        feat_mid = self.mid_dilation(feat_e1).transpose(1, 2)  # b t 64 h/4 w/4
        feat_prop = self.feat_prop_module(feat_mid)
        feat_d2 = (feat_prop + feat_e1.transpose(1, 2)).reshape(b * t, 64, h // 4, w // 4)
        flow = self.upsample(self.decoder1(feat_d2))
        return flow.view(b, t, 2, h, w) + flows

    def forward_bidirect_flow(self, blur_motion_map, flows):
        """Refine BSSTNet's forward and backward flows.

        Args:
            blur_motion_map (Tensor): Blur map of the t frames, (b, t, 1, h, w).
            flows (Sequence[Tensor]): ``[flows_forward, flows_backward]``, each
                (b, t-1, 2, h, w).

        Returns:
            tuple[Tensor]: Refined ``(flows_forward, flows_backward)``, each (b, t-1, 2, h, w).
        """
        check_tensor(blur_motion_map, 'blur_motion_map', 5, '(b, t, 1, h, w)',
                     (None, None, 1, None, None))
        if len(flows) != 2:
            raise ValueError(f'flows must be [flows_forward, flows_backward], got {len(flows)} '
                             'tensors')
        b, t, _, h, w = blur_motion_map.shape
        if t < 2:
            raise ValueError(f'at least 2 frames are needed, got blur map {(b, t, 1, h, w)}')
        flows_forward, flows_backward = flows
        for name, f in (('flows_forward', flows_forward), ('flows_backward', flows_backward)):
            check_tensor(f, name, 5, '(b, t-1, 2, h, w)', (None, None, 2, None, None))
            if f.shape[1] != t - 1:
                raise ValueError(f'{name} must hold t-1 = {t - 1} flows for a blur map of {t} '
                                 f'frames, got {f.shape[1]}')
            if f.shape[0] != b or f.shape[-2:] != (h, w):
                raise ValueError(f'{name} {tuple(f.shape)} does not match the blur map '
                                 f'{(b, t, 1, h, w)} in batch or size')
        pred_backward = self.forward(blur_motion_map[:, 1:], flows_backward)
        pred_forward = self.forward(blur_motion_map[:, :-1].flip(1), flows_forward.flip(1))
        return pred_forward.flip(1), pred_backward
