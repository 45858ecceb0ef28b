"""Blur-aware feature alignment (BSSTNet's BBFP): flow-guided modulated deformable convolution
whose modulation masks favour sharp neighbours."""
import torch
import torch.nn.functional as F
from mmagic.models.utils import flow_warp

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


def _runs(indices):
    """Consecutive runs of ``indices`` as slices: [0, 1, 2, 5, 6] -> [slice(0, 3), slice(5, 7)]."""
    runs = []
    for i in indices:
        if runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return [slice(a, b) for a, b in runs]


class BlurAwareDeformableAlignment(SecondOrderDCN):
    """Second-order flow-guided deformable alignment with sharpness-guided masks (BBFP's BFA).

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    As BasicVSR++'s second-order alignment, offsets are residues around the optical flows of
    the two neighbours: ``max_residue_magnitude * tanh(o) + flow``. The modulation masks of each
    neighbour get ``0.1 * (2 * s - 1)`` added before the sigmoid, ``s`` being that neighbour's
    warped sharp map gated by its flow consistency, so sharp, reliably aligned pixels weigh
    more.

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
        return self._offsets_and_masks(torch.cat([extra_feat, flow_1, flow_2], dim=1),
                                       torch.stack([flow_1, flow_2], 1),
                                       torch.stack([sharp_1, sharp_2], 1))

    def _offsets_and_masks(self, offset_input, flows, sharps, weight=None, out_channels=None):
        """Offsets and masks of the neighbours stacked in ``flows`` (n, m, 2, h, w) and
        ``sharps`` (n, m, 1, h, w), m = 2 (or 1: the first neighbour alone, from the columns
        ``weight`` of ``conv_offset.0`` and the rows ``out_channels`` of ``conv_offset.6``)."""
        conv0, act, *middle, last = self.conv_offset
        out = act(F.conv2d(offset_input, conv0.weight if weight is None else weight,
                           conv0.bias, padding=conv0.padding))
        for m in middle:
            out = m(out)
        if out_channels is None:
            out = last(out)
        else:
            out = F.conv2d(out, torch.cat([last.weight[r] for r in out_channels]),
                           torch.cat([last.bias[r] for r in out_channels]), padding=last.padding)
        n, m, _, h, w = flows.shape
        # o1, o2, mask = chunk(3): the offsets of neighbour j are the j-th half of cat(o1, o2),
        # its masks the j-th half of the mask chunk; flows are (x, y), deformable offsets
        # (y, x) pairs, one pair per kernel position: added by broadcasting, not repeated
        offset = out[:, :2 * out.size(1) // 3]
        offset = torch.add(flows.flip(2).view(n, m, 1, 2, h, w),
                           torch.tanh(offset).view(n, m, -1, 2, h, w),
                           alpha=self.max_residue_magnitude)
        mask = out[:, 2 * out.size(1) // 3:].view(n, m, -1, h, w) + (0.2 * sharps - 0.1)
        return offset.view(n, -1, h, w), torch.sigmoid(mask).view(n, -1, h, w)

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
        return self.deform(x, offset, mask)

    def forward_first_order(self, x_1, extra_feat, flow_1, sharp_1, extra_channels):
        """:meth:`forward` when the second neighbour is absent (its feature, flow, sharp map
        and every extra channel it fills are zero, as at the second frame of a propagation):
        the same result, without the work on zeros. The offset net reads only the given
        ``extra_channels`` (indices into ``extra_feat``'s full layout) and flow 1; only the
        first neighbour's offsets and masks are predicted, and the deformable convolution
        runs over its half of the groups (a zero input contributes nothing but the bias).

        Args:
            x_1 (Tensor): Neighbour-1 feature, (n, C, h, w).
            extra_feat (Tensor): The non-zero extra channels, (n, len(extra_channels), h, w).
            flow_1 (Tensor): Flow to neighbour 1, (n, 2, h, w).
            sharp_1 (Tensor): Its consistency-gated warped sharp map, (n, 1, h, w).
            extra_channels (Sequence[int]): Where ``extra_feat``'s channels sit in the full
                extra layout.

        Returns:
            Tensor: Aligned feature (n, C, h, w).
        """
        conv0 = self.conv_offset[0]
        extra = conv0.in_channels - 4
        # flow_1 follows the extra channels; slices, not index tensors (no host-device copy)
        columns = _runs(list(extra_channels) + [extra, extra + 1])
        k = self.kernel_size[0] * self.kernel_size[1]
        per = self.deform_groups // 2 * k  # offset pairs / masks of one neighbour
        offset, mask = self._offsets_and_masks(
            torch.cat([extra_feat, flow_1], dim=1), flow_1.unsqueeze(1), sharp_1.unsqueeze(1),
            torch.cat([conv0.weight[:, r] for r in columns], dim=1),
            (slice(0, 2 * per), slice(4 * per, 5 * per)))
        return self.deform(x_1, offset, mask, x_1.size(1), self.deform_groups // 2)
