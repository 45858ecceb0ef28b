# Semantics of Chen-Rao/VD-Diff (S1_arch.py LE_arch, S2_arch.py CE, common.py), MIT; THIRD_PARTY.md
"""VD-Diff's prior encoders: the latent encoder LE (blurry + sharp frames, stage 1 and the
diffusion target) and the condition encoder CE (blurry frames only, the diffusion's condition).

Both map every frame to one vector, the "image prior representation" (IPR) that modulates the
transformer: PixelUnshuffle(4) -> conv -> residual blocks -> three convs -> global average pool
-> two-layer MLP. Layer for layer the official networks; only the module names differ
(``convert.py`` maps them).
"""
import torch
import torch.nn as nn

from ...layers.checks import check_tensor


class ResBlock(nn.Module):
    """``x + conv2(LeakyReLU_0.1(conv1(x)))`` with two 3x3 convs (with bias), the residual block
    of every VD-Diff sub-network (LE/CE, the kernel predictor, the propagation).

    Args:
        channels (int): Input and output channels.
    """

    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.act = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x):
        return x + self.conv2(self.act(self.conv1(x)))


class PriorEncoder(nn.Module):
    """Frames -> one prior vector per frame (VD-Diff's LE with ``num_inputs=2``, CE with 1).

    ``forward(*frames)`` takes ``num_inputs`` tensors (N, 3, h, w) (h, w multiples of 4; N
    frames of any clips, the vectors keep their order) and returns (N, prior_channels). The
    inputs are pixel-unshuffled by 4 each and concatenated in the order given (LE: blurry,
    then sharp).

    Args:
        num_inputs (int): Images per frame: 2 for LE (blurry, sharp), 1 for CE. Default: 2.
        in_channels (int): Channels of each image. Default: 3.
        mid_channels (int): Channels of the residual blocks (official ``n_feats``). Default: 64.
        num_blocks (int): Residual blocks (official ``n_encoder_res``). Default: 6.
        prior_channels (int): Length of the prior vector (official ``4 * n_feats``); the convs
            after the blocks go mid -> prior/2 -> prior/2 -> prior. Default: 256.
    """

    def __init__(self, num_inputs=2, in_channels=3, mid_channels=64, num_blocks=6,
                 prior_channels=256):
        super().__init__()
        if prior_channels % 2:
            raise ValueError(f'prior_channels must be even, got {prior_channels}')
        self.num_inputs, self.in_channels = num_inputs, in_channels
        act = nn.LeakyReLU(0.1, inplace=True)
        self.unshuffle = nn.PixelUnshuffle(4)
        self.conv_in = nn.Conv2d(16 * in_channels * num_inputs, mid_channels, 3, 1, 1)
        self.res_blocks = nn.Sequential(*[ResBlock(mid_channels) for _ in range(num_blocks)])
        half = prior_channels // 2
        self.conv_out = nn.Sequential(
            nn.Conv2d(mid_channels, half, 3, 1, 1), act,
            nn.Conv2d(half, half, 3, 1, 1), act,
            nn.Conv2d(half, prior_channels, 3, 1, 1), act)
        self.mlp = nn.Sequential(
            nn.Linear(prior_channels, prior_channels), act,
            nn.Linear(prior_channels, prior_channels), act)
        self.act = act

    def forward(self, *frames):
        if len(frames) != self.num_inputs:
            raise ValueError(f'PriorEncoder takes {self.num_inputs} image batch(es) '
                             f'(N, {self.in_channels}, h, w), got {len(frames)}')
        for i, x in enumerate(frames):
            check_tensor(x, f'PriorEncoder input {i}', 4, f'(N, {self.in_channels}, h, w)',
                         (frames[0].shape[0], self.in_channels) + tuple(frames[0].shape[2:]))
        h, w = frames[0].shape[-2:]
        if h % 4 or w % 4:
            raise ValueError(f'PriorEncoder: height and width must be multiples of 4 (pixel '
                             f'unshuffle by 4), got {h}x{w}')
        x = torch.cat([self.unshuffle(f) for f in frames], 1)  # (N, 16 * 3 * k, h/4, w/4)
        x = self.act(self.conv_in(x))
        x = self.conv_out(self.res_blocks(x)).mean((2, 3))  # global average pool
        return self.mlp(x)


__all__ = ['PriorEncoder', 'ResBlock']
