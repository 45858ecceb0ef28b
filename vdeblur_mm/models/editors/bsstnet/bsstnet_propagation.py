"""Blur-aware feature alignment (BSSTNet's BBFP): flow-guided modulated deformable convolution
whose modulation masks favour sharp neighbours."""
import torch
from mmagic.models.utils import flow_warp

from ...layers.dcn import deform_conv_nchw
from .bsstnet_dcn import SecondOrderDCN


def forward_backward_consistency(flow_fw, flow_bw, alpha1=0.01, alpha2=0.5):
    """Pixels whose forward flow is undone by the backward flow (not occluded).

    ``|f_fw + warp(f_bw, f_fw)|^2 < alpha1 * (|f_fw|^2 + |warp(f_bw, f_fw)|^2) + alpha2``
    (Sundaram et al.; the check BSSTNet/ProPainter use).

    Args:
        flow_fw (Tensor): Flow from frame a to frame b, (n, 2, h, w).
        flow_bw (Tensor): Flow from frame b to frame a, (n, 2, h, w).

    Returns:
        Tensor: (n, 1, h, w), 1 where consistent, 0 elsewhere.
    """
    bw_warped = flow_warp(flow_bw, flow_fw.permute(0, 2, 3, 1))
    diff = (flow_fw + bw_warped).pow(2).sum(1, keepdim=True)
    bound = alpha1 * (flow_fw.pow(2).sum(1, keepdim=True) +
                      bw_warped.pow(2).sum(1, keepdim=True)) + alpha2
    return (diff < bound).to(flow_fw.dtype)


class BlurAwareDeformableAlignment(SecondOrderDCN):
    """Second-order flow-guided deformable alignment with sharpness-guided masks (BBFP's BFA).

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    As BasicVSR++'s second-order alignment, offsets are residues around the optical flows of
    the two neighbours: ``max_residue_magnitude * tanh(o) + flow``. The modulation masks of each
    neighbour get ``0.1 * (2 * s - 1)`` added before the sigmoid, ``s`` being that neighbour's
    warped sharp map gated by its flow consistency, so sharp, reliably aligned pixels weigh
    more. Runs mmcv's ``modulated_deform_conv2d`` (CUDA kernels on GPU, CPU kernels otherwise).

    Args:
        in_channels (int): Input channels: both neighbours' features, 2 * C.
        out_channels (int): Output channels C.
        kernel_size (int): Kernel size. Default: 3.
        padding (int): Padding. Default: 1.
        deform_groups (int): Deformable groups; the first half samples neighbour 1, the second
            half neighbour 2. Default: 16.
        max_residue_magnitude (float): Bound of the offset residue. Default: 5 (BSSTNet).
        extra_channels (int, optional): Channels of ``extra_feat`` (without the two flows);
            None means ``3 * out_channels + 5`` (BSSTNet: warped/current features, three sharp
            maps, two consistency masks). Default: None.
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, padding=1, deform_groups=16,
                 max_residue_magnitude=5.0, extra_channels=None):
        if deform_groups % 2:
            raise ValueError(f'deform_groups must be even (half per neighbour), got '
                             f'{deform_groups}')
        extra = 3 * out_channels + 5 if extra_channels is None else extra_channels
        # the offsets are predicted from the extra features and the two flows
        super().__init__(in_channels, out_channels, kernel_size, padding, deform_groups,
                         max_residue_magnitude, offset_in_channels=extra + 4)

    def offsets_and_masks(self, extra_feat, flow_1, flow_2, sharp_1, sharp_2):
        """Offsets (n, 2*dg*k, h, w) and masks (n, dg*k, h, w) in [0, 1]."""
        offset, mask = self.bounded_offsets_and_mask_logits(
            torch.cat([extra_feat, flow_1, flow_2], dim=1))
        offset_1, offset_2 = torch.chunk(offset, 2, dim=1)
        # flows are (x, y); deformable offsets are (y, x) pairs, one pair per kernel position
        offset_1 = offset_1 + flow_1.flip(1).repeat(1, offset_1.size(1) // 2, 1, 1)
        offset_2 = offset_2 + flow_2.flip(1).repeat(1, offset_2.size(1) // 2, 1, 1)
        mask_1, mask_2 = torch.chunk(mask, 2, dim=1)
        mask_1 = mask_1 + (0.2 * sharp_1 - 0.1)  # 0.1 * (2 s - 1), broadcast over the channels
        mask_2 = mask_2 + (0.2 * sharp_2 - 0.1)
        return (torch.cat([offset_1, offset_2], dim=1),
                torch.sigmoid(torch.cat([mask_1, mask_2], dim=1)))

    def forward(self, x, extra_feat, flow_1, flow_2, sharp_1, sharp_2):
        """Align the two neighbours' features.

        Args:
            x (Tensor): cat(neighbour-1 feature, neighbour-2 feature), (n, 2C, h, w).
            extra_feat (Tensor): Features the offsets are predicted from, (n, extra, h, w).
            flow_1, flow_2 (Tensor): Flows from the current frame to each neighbour (n, 2, h, w).
            sharp_1, sharp_2 (Tensor): Consistency-gated warped sharp maps (n, 1, h, w).

        Returns:
            Tensor: Aligned feature (n, C, h, w).
        """
        offset, mask = self.offsets_and_masks(extra_feat, flow_1, flow_2, sharp_1, sharp_2)
        return deform_conv_nchw(self, x, offset, mask)
