# Adapted from open-mmlab/mmagic (BasicVSR++ SecondOrderDeformableAlignment), Apache-2.0.
"""The second-order deformable convolution of BSSTNet's two alignments (BBFP's blur-aware one and
the flow refiner's), after BasicVSR++'s second-order deformable alignment."""
import torch
from mmcv.ops import ModulatedDeformConv2d
from torch import nn

__all__ = ['SecondOrderDCN']


class SecondOrderDCN(ModulatedDeformConv2d):
    """Base of BasicVSR++-style second-order deformable alignment (BSSTNet's blur-aware
    alignment, ProPainter's flow refiner): offsets and modulation masks predicted by a 4-layer
    ``conv_offset`` (named as the official modules: ``conv_offset.0/2/4/6``) whose last layer
    is zero-initialised, offset residues bounded by ``max_residue_magnitude * tanh``.

    Args:
        in_channels (int): Input channels: both neighbours' features, 2 * C.
        out_channels (int): Output channels C.
        kernel_size (int): Kernel size. Default: 3.
        padding (int): Padding. Default: 1.
        deform_groups (int): Deformable groups. Default: 16.
        max_residue_magnitude (float): Bound of the offset residues. Default: 5.
        offset_in_channels (int): Channels of ``conv_offset``'s input (keyword only).
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, padding=1, deform_groups=16,
                 max_residue_magnitude=5.0, *, offset_in_channels):
        super().__init__(in_channels, out_channels, kernel_size, padding=padding,
                         deform_groups=deform_groups)
        self.max_residue_magnitude = max_residue_magnitude
        k = self.kernel_size[0] * self.kernel_size[1]
        act = nn.LeakyReLU(negative_slope=0.1, inplace=True)
        self.conv_offset = nn.Sequential(
            nn.Conv2d(offset_in_channels, out_channels, 3, 1, 1), act,
            nn.Conv2d(out_channels, out_channels, 3, 1, 1), act,
            nn.Conv2d(out_channels, out_channels, 3, 1, 1), act,
            nn.Conv2d(out_channels, 3 * k * deform_groups, 3, 1, 1),
        )
        self.init_offset()

    def init_weights(self):
        """mmcv's weight init; ``conv_offset``'s last layer (if built yet) back to zero."""
        super().init_weights()
        if hasattr(self, 'conv_offset'):
            self.init_offset()

    def init_offset(self):
        """Zero residues and neutral (0.5) masks at start."""
        nn.init.zeros_(self.conv_offset[-1].weight)
        nn.init.zeros_(self.conv_offset[-1].bias)

    def bounded_offsets_and_mask_logits(self, offset_input):
        """Offset residues (n, 2*dg*k, h, w) in ±max_residue_magnitude and mask logits
        (n, dg*k, h, w)."""
        o1, o2, mask = torch.chunk(self.conv_offset(offset_input), 3, dim=1)
        offset = self.max_residue_magnitude * torch.tanh(torch.cat((o1, o2), dim=1))
        return offset, mask
