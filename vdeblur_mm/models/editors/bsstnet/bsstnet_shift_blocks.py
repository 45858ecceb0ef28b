"""BSSTNet's decoder blocks: Shift-Net's grouped spatio-temporal shift (a temporal roll of the
channels across frames, grouped spatial shifts) around gated channel-attention blocks.

Paper: A Simple Baseline for Video Restoration with Grouped Spatial-temporal Shift (Shift-Net,
CVPR 2023), as used by BSSTNet (CVPR 2024). Names follow the official ``gshift_arch.py`` of
huicongzhang/BSSTNet (``Encoder_shift_block``, ``spatial_shift2``), so official weights load.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ...layers.checks import check_tensor
from .bsstnet_cnn_blocks import CAB1, CAB2

__all__ = ['temporal_channel_shift', 'spatial_shift', 'EncoderShiftBlock']


def temporal_channel_shift(x, div=2, reverse=False):
    """Shift-Net's temporal shift: roll the channels of all frames, flattened to one T*C axis,
    by ``C // div`` (frames are the batch dim).

    Forward (``reverse=False``): frame t gets, in its first ``C // div`` channels, the last
    ``C // div`` channels of frame t-1 (frame 0 those of the last frame: the roll wraps), and
    in the rest its own first channels, moved up. ``reverse=True`` rolls the other way: frame t
    gets its own last channels first and then the first ``C // div`` channels of frame t+1.

    Args:
        x (Tensor): (t, c, h, w).
        div (int): The shift is ``c // div`` channels. Default: 2.
        reverse (bool): Roll towards earlier frames instead of later ones. Default: False.

    Returns:
        Tensor: (t, c, h, w).
    """
    check_tensor(x, 'temporal_channel_shift', 4, '(t, c, h, w)')
    t, c, h, w = x.shape
    shift = -(c // div) if reverse else c // div
    return torch.roll(x.reshape(1, t * c, h, w), shift, 1).reshape(t, c, h, w)


def _shift_offsets(step=4):
    """(dy, dx) of the 16 'far' and the 8 'near' groups of the official ``spatial_shift2``:
    ``out[y, x] = in[y - dy, x - dx]``, zero where that falls outside."""
    s, s2 = step, 2 * step
    far = [(s2, s2), (s2, s), (s2, 0), (s2, -s), (s2, -s2), (-s2, s2), (-s2, s), (-s2, 0),
           (-s2, -s), (-s2, -s2), (s, s2), (s, -s2), (0, s2), (0, -s2), (-s, s2), (-s, -s2)]
    near = [(s, s), (s, 0), (s, -s), (0, s), (0, -s), (-s, s), (-s, 0), (-s, -s)]
    return far, near


def spatial_shift(x, number, step=4):
    """Grouped spatial shift (official ``spatial_shift2``) of ``8 * number`` channels.

    With ``n2 = (number - 1) // 2`` and ``n1 = number - 2 * n2``: 16 groups of n2 channels
    move by 2*step in at least one direction (offsets in {0, +-step, +-2*step}, 16 directions),
    then 8 groups of n1 channels move to the 8 neighbours at distance ``step``. Pixels moved in
    from outside are zero.

    Args:
        x (Tensor): (t, 8 * number, h, w).
        number (int): Channels per group unit (``n_feat // 16`` in :class:`EncoderShiftBlock`).
        step (int): Shift unit s in pixels. Default: 4.

    Returns:
        Tensor: (t, 8 * number, h, w).
    """
    check_tensor(x, 'spatial_shift', 4, '(t, c, h, w)', (None, 8 * number, None, None))
    h, w = x.shape[-2:]
    n2 = (number - 1) // 2
    n1 = number - 2 * n2
    far, near = _shift_offsets(step)
    p = 2 * step
    padded = F.pad(x, (p, p, p, p))
    outs, start = [], 0
    for size, offsets in ((n2, far), (n1, near)):
        for dy, dx in offsets:
            outs.append(padded[:, start:start + size, p - dy:p - dy + h, p - dx:p - dx + w])
            start += size
    return torch.cat(outs, dim=1)


def _temporal_channel_shift_nhwc(x, div=2, reverse=False):
    """:func:`temporal_channel_shift` of a channels-last clip (t, h, w, c), written in place
    of the roll of the flattened (t, c) axis."""
    c = x.size(-1)
    s = c // div
    out = torch.empty_like(x)
    if reverse:  # frame t: its own channels s.., then the first s channels of frame t+1
        out[..., :c - s] = x[..., s:]
        out[:-1, ..., c - s:] = x[1:, ..., :s]
        out[-1:, ..., c - s:] = x[:1, ..., :s]
    else:  # frame t: the last s channels of frame t-1, then its own first channels
        out[1:, ..., :s] = x[:-1, ..., c - s:]
        out[:1, ..., :s] = x[-1:, ..., c - s:]
        out[..., s:] = x[..., :c - s]
    return out


def _spatial_shift_nhwc(x, number, step=4):
    """:func:`spatial_shift` of a channels-last map (t, h, w, 8 * number)."""
    h, w = x.shape[1:3]
    n2 = (number - 1) // 2
    n1 = number - 2 * n2
    far, near = _shift_offsets(step)
    p = 2 * step
    padded = F.pad(x, (0, 0, p, p, p, p))
    outs, start = [], 0
    for size, offsets in ((n2, far), (n1, near)):
        for dy, dx in offsets:
            outs.append(padded[:, p - dy:p - dy + h, p - dx:p - dx + w, start:start + size])
            start += size
    return torch.cat(outs, dim=-1)


class EncoderShiftBlock(nn.Module):
    """Grouped spatio-temporal shift block (official ``Encoder_shift_block``).

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024);
    shift design from Shift-Net (A Simple Baseline for Video Restoration with Grouped
    Spatial-temporal Shift, CVPR 2023).

    Four stages, each: :func:`temporal_channel_shift` by c/2 across the frames (alternately
    forward and backward), :func:`spatial_shift` of ``c // 2`` channels (the first c/2 after a
    forward roll, the last c/2 after a backward one) appended as extra channels, then
    ``CAB2(c, 5, add_channel=c // 2)`` and ``CAB1(c, 5)``.

    The official constructor, called as ``(c, 3, 4, False)``, also takes ``kernel_size`` and
    ``reduction``, which it does not use (the inner blocks use ``inner_kernel_size``); they are
    gone, and ``bias`` is keyword only so that the official positional call fails instead of
    building a different block.

    Args:
        n_features (int): Channels c, at least 16 (``c // 16`` is the shift group unit).
        bias (bool): Bias in the convs (keyword only). Default: False.
        inner_kernel_size (int): Large depthwise kernel of the CAB1/CAB2 blocks (keyword only).
            Default: 5.
    """

    def __init__(self, n_features, *, bias=False, inner_kernel_size=5):
        super().__init__()
        self.n_feat = n_features
        self.number = n_features // 2 // 8
        if self.number < 1:
            raise ValueError(f'EncoderShiftBlock needs n_features >= 16, got {n_features}')
        k, extra = inner_kernel_size, 8 * self.number
        for name in ('encoder_level1', 'encoder_level1_1', 'encoder_level1_2', 'encoder_level1_3'):
            self.add_module(
                name,
                nn.Sequential(
                    CAB2(n_features, k, bias=bias, add_channel=extra),
                    CAB1(n_features, k, bias=bias)))

    def channel_shift(self, x, div=2, reverse=False):
        """Temporal roll, then append the spatially shifted first (forward) or last (reverse)
        ``8 * number`` channels: (t, c, h, w) -> (t, c + 8 * number, h, w)."""
        y = temporal_channel_shift(x, div, reverse)
        n = 8 * self.number
        hw = y[:, -n:] if reverse else y[:, :n]
        return torch.cat((y, spatial_shift(hw, self.number)), dim=1)

    def forward(self, x):
        """Apply the block (the official ``forward`` also takes a ``reverse`` that it ignores).

        Args:
            x (Tensor): (t, c, h, w), the frames of one clip as the batch dim (the temporal
                shift mixes neighbouring entries of this dim).

        Returns:
            Tensor: (t, c, h, w).
        """
        check_tensor(x, type(self).__name__, 4, '(t, c, h, w)', (None, self.n_feat, None, None))
        # channels last inside (the CAB blocks' norms and 1x1 convs work on the last dim);
        # the output has the input's memory layout
        channels_last = x.is_contiguous(memory_format=torch.channels_last)
        x = x.permute(0, 2, 3, 1).contiguous()
        n = 8 * self.number
        for i, name in enumerate(('encoder_level1', 'encoder_level1_1', 'encoder_level1_2',
                                  'encoder_level1_3')):
            # channel_shift, without concatenating the shifted part only for CAB2 to split it
            reverse = i % 2 == 1
            y = _temporal_channel_shift_nhwc(x, 2, reverse)
            part = y[..., -n:] if reverse else y[..., :n]
            cab2, cab1 = getattr(self, name)
            x = cab1.forward_nhwc(cab2.forward_split_nhwc(y, _spatial_shift_nhwc(part,
                                                                              self.number)))
        x = x.permute(0, 3, 1, 2)
        return x if channels_last else x.contiguous()
