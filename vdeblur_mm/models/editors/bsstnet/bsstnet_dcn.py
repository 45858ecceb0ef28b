# Adapted from open-mmlab/mmagic (BasicVSR++ SecondOrderDeformableAlignment), Apache-2.0.
"""The second-order deformable convolution of BSSTNet's two alignments (BBFP's blur-aware one and
the flow refiner's), after BasicVSR++'s second-order deformable alignment."""
import torch
import torch.nn.functional as F
from mmcv.ops import ModulatedDeformConv2d
from torch import nn
from torch.nn.modules.utils import _pair

__all__ = ['SecondOrderDCN', 'deform_conv_by_sampling']


class SecondOrderDCN(ModulatedDeformConv2d):
    """Base of BasicVSR++-style second-order deformable alignment (BSSTNet's blur-aware
    alignment, ProPainter's flow refiner): offsets and modulation masks predicted by a 4-layer
    ``conv_offset`` (named as the official modules: ``conv_offset.0/2/4/6``) whose last layer
    is zero-initialised, offset residues bounded by ``max_residue_magnitude * tanh``.

    The deformable convolution itself is :func:`deform_conv_by_sampling` (same function as
    mmcv's kernel, about twice as fast on CPU); the parameters are mmcv's
    ``ModulatedDeformConv2d``'s (``weight``, ``bias``), as in the official checkpoints.

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

    def deform(self, x, offset, mask, in_channels=None, deform_groups=None):
        """The deformable convolution of ``x`` with this module's weight and bias; only the
        first ``in_channels`` input channels of the weight and ``deform_groups`` groups when
        given (one neighbour alone)."""
        weight = self.weight if in_channels is None else self.weight[:, :in_channels]
        return deform_conv_by_sampling(
            x, offset, mask, weight, self.bias, self.stride, self.padding, self.dilation,
            self.deform_groups if deform_groups is None else deform_groups)


def deform_conv_by_sampling(x, offset, mask, weight, bias=None, stride=1, padding=0, dilation=1,
                            deform_groups=1):
    """Modulated deformable convolution (DCNv2) as bilinear sampling plus one matrix product.

    Computes what mmcv's ``modulated_deform_conv2d`` (and torchvision's ``deform_conv2d``)
    compute, with the same layouts: ``offset`` (n, 2*dg*kh*kw, h', w') holds one (dy, dx) pair
    per deformable group and kernel point, ``mask`` (n, dg*kh*kw, h', w'), deformable groups
    take contiguous input channels; samples outside the image read zero. Every kernel point of
    every group is sampled by one ``grid_sample`` (device-agnostic: the same code on CPU and
    CUDA, and differentiable in the input, offsets and masks), the masks scale the sampled
    columns and one (batched) product with the weight sums them. On CPU this is about twice as
    fast as mmcv's im2col kernel; it keeps the same column buffer (n * C * kh * kw * h' * w').
    Convolution groups are not supported (BSSTNet uses none).

    Args:
        x (Tensor): Input (n, C, h, w).
        offset (Tensor): Offsets (n, 2*dg*kh*kw, h', w').
        mask (Tensor): Modulation masks (n, dg*kh*kw, h', w').
        weight (Tensor): Weight (C_out, C, kh, kw).
        bias (Tensor, optional): Bias (C_out,).
        stride, padding, dilation (int | tuple[int]): As for a convolution.
        deform_groups (int): Deformable groups; must divide C.

    Returns:
        Tensor: (n, C_out, h', w').
    """
    n, c, h, w = x.shape
    c_out, c_w, kh, kw = weight.shape
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    h_out, w_out = ((size + 2 * p - d * (k - 1) - 1) // s + 1
                    for size, p, d, k, s in ((h, ph, dh, kh, sh), (w, pw, dw, kw, sw)))
    k = kh * kw
    if c_w != c or c % deform_groups:
        raise ValueError(f'deformable convolution: input has {c} channels, the weight expects '
                         f'{c_w} (no convolution groups) and {deform_groups} deformable groups '
                         f'must divide them')
    if offset.shape != (n, 2 * deform_groups * k, h_out, w_out) or \
            mask.shape != (n, deform_groups * k, h_out, w_out):
        raise ValueError(f'deformable convolution: offset {tuple(offset.shape)} and mask '
                         f'{tuple(mask.shape)} do not fit {deform_groups} groups of a {kh}x{kw} '
                         f'kernel over a {n}-sample batch with {h_out}x{w_out} outputs')
    # sampling positions in input pixels: the regular grid, its kernel point, then the offset
    dtype = offset.dtype
    base_y = (torch.arange(h_out, device=x.device, dtype=dtype) * sh - ph).view(h_out, 1) + \
        (torch.arange(kh, device=x.device, dtype=dtype) * dh).repeat_interleave(kw).view(k, 1, 1)
    base_x = (torch.arange(w_out, device=x.device, dtype=dtype) * sw - pw).view(1, w_out) + \
        (torch.arange(kw, device=x.device, dtype=dtype) * dw).repeat(kh).view(k, 1, 1)
    offset = offset.view(n, deform_groups, k, 2, h_out, w_out)
    # grid_sample's coordinates (align_corners=False): pixel p of a size-s axis is (2p+1)/s - 1
    grid_x = (offset[:, :, :, 1] + base_x).mul_(2 / w).add_(1 / w - 1)
    grid_y = (offset[:, :, :, 0] + base_y).mul_(2 / h).add_(1 / h - 1)
    grid = torch.stack((grid_x, grid_y), dim=-1).view(n * deform_groups, k * h_out, w_out, 2)
    cols = F.grid_sample(x.reshape(n * deform_groups, c // deform_groups, h, w), grid.to(x.dtype),
                         mode='bilinear', padding_mode='zeros', align_corners=False)
    # (n, dg, C/dg, k, h'w') scaled by each group's and kernel point's masks: rows c*k + j
    cols = cols.view(n, deform_groups, c // deform_groups, k, h_out * w_out) * \
        mask.view(n, deform_groups, 1, k, h_out * w_out).to(cols.dtype)
    out = torch.matmul(weight.reshape(c_out, c * k).to(cols.dtype), cols.view(n, c * k, -1))
    if bias is not None:
        out = out + bias.to(out.dtype).view(1, c_out, 1)
    return out.view(n, c_out, h_out, w_out)
