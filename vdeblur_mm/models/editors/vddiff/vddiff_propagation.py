# Semantics of Chen-Rao/VD-Diff (propagation.py, kpn_pixel.py IDynamicDWConv), MIT; THIRD_PARTY.md
"""VD-Diff's flow-free recurrent propagation (run at 1/2 resolution, between the two inverse
Haar transforms): per frame a gated fusion of the frame's features with the propagated state,
a pixel-wise dynamic depthwise convolution whose kernels are predicted from the fused state,
and residual blocks; a backward pass, then a forward pass over the backward pass's output.

Differences from the official code, none of which changes the function: the dynamic
convolution is :func:`~.vddiff_ops.pixel_dynamic_dwconv` (plain PyTorch) instead of a cupy
kernel; module names are ours (``convert.py``); the unused cross-attention variant
(``use_cross_attention``, off in every official config) is not built.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmagic.models.utils import default_init_weights

from ...layers.checks import check_video
from .vddiff_ops import pixel_dynamic_dwconv
from .vddiff_prior import ResBlock


class DynamicKernelConv(nn.Module):
    """Pixel-wise dynamic depthwise convolution with its kernel predictor (official
    ``IDynamicDWConv(channels, 3, 1, 4, 1)``).

    The kernels come from the input itself at 1/8 resolution: AvgPool(``down``) ->
    ``num_blocks`` residual blocks -> MaxPool(2) -> ``num_blocks`` residual blocks -> 1x1 conv
    to ``k * k * groups`` channels -> bilinear upsampling x(2 ``down``) (``align_corners=False``,
    as the official ``F.interpolate(scale_factor=8, mode='bilinear')``); kernel channel
    ``g * k * k + i * k + j`` is tap (i, j) of group g. Input height and width must be
    multiples of 2 ``down``.

    Args:
        channels (int): Channels C.
        kernel_size (int): k. Default: 3.
        group_channels (int): Channels sharing one kernel (groups = C / group_channels).
            Default: 1.
        down (int): Average-pooling factor before the first blocks. Default: 4.
        num_blocks (int): Residual blocks before and after the max pooling. Default: 3.
    """

    def __init__(self, channels, kernel_size=3, group_channels=1, down=4, num_blocks=3):
        super().__init__()
        if channels % group_channels:
            raise ValueError(f'group_channels ({group_channels}) must divide channels '
                             f'({channels})')
        self.kernel_size, self.down = kernel_size, down
        self.block1 = nn.Sequential(*[ResBlock(channels) for _ in range(num_blocks)])
        self.block2 = nn.Sequential(*[ResBlock(channels) for _ in range(num_blocks)])
        groups = channels // group_channels
        self.to_kernel = nn.Conv2d(channels, kernel_size * kernel_size * groups, 1)

    def predict_kernels(self, x):
        """(n, C, h, w) -> kernels (n, groups * k * k, h, w)."""
        h, w = x.shape[-2:]
        f = 2 * self.down
        if h % f or w % f:
            raise ValueError(f'DynamicKernelConv: height and width must be multiples of {f} '
                             f'(kernels are predicted at 1/{f}), got {h}x{w}')
        y = self.block1(F.avg_pool2d(x, self.down))
        y = self.to_kernel(self.block2(F.max_pool2d(y, 2)))  # 1/8 resolution
        return F.interpolate(y, scale_factor=f, mode='bilinear', align_corners=False)

    def forward(self, x):
        return pixel_dynamic_dwconv(x, self.predict_kernels(x), self.kernel_size)


class GatedPropagation(nn.Module):
    """One direction of VD-Diff's propagation.

    Per frame i (in order, or reversed with ``reverse``), with the state s (zeros first):
    ``a, b = split(LeakyReLU(fuse(cat[x_i, s])))``, ``s = a * sigmoid(gate1(a)) +
    b * sigmoid(gate2(b))``, ``s = res_blocks(dynamic_conv(s))``; the output of frame i is s.

    ``forward(feat)``: (n, t, C, h, w) -> (n, t, C, h, w), h and w multiples of 8.

    Args:
        channels (int): C. Default: 64.
        num_blocks (int): Residual blocks after the dynamic conv (official
            ``propagation_blocks``). Default: 30.
        reverse (bool): Backward in time (last frame first). Default: False.
    """

    def __init__(self, channels=64, num_blocks=30, reverse=False):
        super().__init__()
        self.channels, self.reverse = channels, reverse
        self.fuse = nn.Conv2d(2 * channels, 2 * channels, 3, 1, 1)
        self.gate1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.gate2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.act = nn.LeakyReLU(0.1, inplace=True)
        self.dynamic_conv = DynamicKernelConv(channels)
        self.res_blocks = nn.Sequential(*[ResBlock(channels) for _ in range(num_blocks)])
        default_init_weights(self.res_blocks, 0.1)  # as the official ResidualBlockNoBN

    def step(self, x, state):
        """One frame: features ``x`` and the state (n, C, h, w) -> the new state."""
        a, b = self.act(self.fuse(torch.cat([x, state], 1))).split(self.channels, 1)
        state = a * torch.sigmoid(self.gate1(a)) + b * torch.sigmoid(self.gate2(b))
        return self.res_blocks(self.dynamic_conv(state))

    def forward(self, feat):
        check_video(feat, 'GatedPropagation input', channels=self.channels)
        t = feat.shape[1]
        order = range(t - 1, -1, -1) if self.reverse else range(t)
        state = feat.new_zeros(feat[:, 0].shape)
        out = [None] * t
        for i in order:
            state = self.step(feat[:, i], state)
            out[i] = state
        return torch.stack(out, 1)


__all__ = ['DynamicKernelConv', 'GatedPropagation']
