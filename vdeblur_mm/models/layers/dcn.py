# Adapted from XPixelGroup/BasicSR (arch_util.py, DCNv2Pack) and open-mmlab/mmagic; Apache-2.0.
"""Modulated deformable convolution (DCNv2) whose offsets come from a separate feature."""
import torch
from mmcv.ops import ModulatedDeformConv2d, modulated_deform_conv2d
from mmengine.logging import print_log
from torch import nn


def deform_conv_nchw(module, x, offset, mask):
    """``module``'s (a ``ModulatedDeformConv2d``) deformable convolution of ``x``.

    mmcv's kernels index memory as contiguous NCHW: a channels-last tensor (e.g. frames permuted
    from HWC images, or conv outputs of such) would be read wrongly, so inputs are made
    contiguous first.
    """
    return modulated_deform_conv2d(x.contiguous(), offset.contiguous(), mask.contiguous(),
                                   module.weight, module.bias, module.stride, module.padding,
                                   module.dilation, module.groups, module.deform_groups)


class ModulatedDCNPack(ModulatedDeformConv2d):
    """Modulated deformable convolution with offsets and masks predicted from an extra feature.

    Paper: Deformable ConvNets v2: More Deformable, Better Results; used for feature alignment
    in EDVR (Video Restoration with Enhanced Deformable Convolutional Networks).

    Unlike mmcv's ``ModulatedDeformConv2dPack``, which predicts offsets from its own input, the
    offsets and masks are predicted from ``extra_feat`` (as BasicSR's ``DCNv2Pack`` and mmagic's
    ``ModulatedDCNPack``). ``conv_offset`` is zero-initialised, so a fresh layer samples the
    regular grid with all masks at ``sigmoid(0) = 0.5``. Its output is split into three equal
    chunks ``o1, o2, mask``; ``offset = cat(o1, o2)`` and ``mask = sigmoid(mask)``, the layout
    of BasicSR / mmagic checkpoints. Parameters: ``weight``, ``bias``, ``conv_offset.weight``,
    ``conv_offset.bias``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int | tuple[int]): Kernel size.
        stride (int): Stride. Default: 1.
        padding (int): Zero padding. Default: 0.
        dilation (int): Dilation. Default: 1.
        groups (int): Convolution groups. Default: 1.
        deform_groups (int): Deformable groups (each has its own offsets and masks).
            Default: 1.
        bias (bool): Whether the deformable convolution has a bias. Default: True.
        extra_channels (int, optional): Channels of ``extra_feat``; None means
            ``in_channels``. Default: None.
        offset_warn_threshold (float, optional): Log a warning when the mean absolute offset
            exceeds it (a sign of diverging alignment; BasicSR warns above 50). None disables
            the check, which costs one device synchronisation per call. Default: 50.
    """

    def __init__(self,
                 in_channels,
                 out_channels,
                 kernel_size,
                 stride=1,
                 padding=0,
                 dilation=1,
                 groups=1,
                 deform_groups=1,
                 bias=True,
                 extra_channels=None,
                 offset_warn_threshold=50.):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, deform_groups=deform_groups,
                         bias=bias)
        self.offset_warn_threshold = offset_warn_threshold
        self.conv_offset = nn.Conv2d(
            in_channels if extra_channels is None else extra_channels,
            deform_groups * 3 * self.kernel_size[0] * self.kernel_size[1],
            kernel_size=self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            bias=True)
        self.init_offset()

    def init_weights(self):
        """mmcv's weight init; ``conv_offset`` (if built yet) back to zero."""
        super().init_weights()
        if hasattr(self, 'conv_offset'):
            self.init_offset()

    def init_offset(self):
        """Zero offsets and 0.5 masks for any input."""
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def offset_and_mask(self, extra_feat):
        """Offsets ``(n, 2*dg*kh*kw, h', w')`` and masks ``(n, dg*kh*kw, h', w')`` in [0, 1]."""
        o1, o2, mask = torch.chunk(self.conv_offset(extra_feat), 3, dim=1)
        return torch.cat((o1, o2), dim=1), torch.sigmoid(mask)

    def forward(self, x, extra_feat):
        """Deformable convolution of ``x`` sampled where ``extra_feat`` says.

        Args:
            x (Tensor): Input of shape (n, c, h, w).
            extra_feat (Tensor): Feature predicting offsets and masks, (n, c_extra, h, w).

        Returns:
            Tensor: Output of shape (n, out_channels, h', w').
        """
        offset, mask = self.offset_and_mask(extra_feat)
        if self.offset_warn_threshold is not None:
            offset_absmean = offset.detach().abs().mean()
            if offset_absmean > self.offset_warn_threshold:
                print_log(f'{self.__class__.__name__}: mean absolute offset is '
                          f'{float(offset_absmean):.1f}, larger than '
                          f'{self.offset_warn_threshold}: the alignment may be diverging.',
                          logger='current', level=30)
        return deform_conv_nchw(self, x, offset, mask)
