"""BSSTNet's CNN blocks: the MPRNet-style channel-attention blocks of its encoder and decoder and
the NAFNet-like gated blocks (``CAB1``/``CAB2``) of its propagation and shift blocks.

Module, submodule and parameter names follow the official code (``basicsr/archs/gshift_arch.py``
of huicongzhang/BSSTNet), so the ``state_dict`` of every block here has the official keys and
shapes and official weights load into it unchanged.
"""
import torch
from torch import nn

from ...layers.checks import check_tensor

__all__ = [
    'conv', 'LayerNorm2d', 'SimpleGate', 'SimpleGate2', 'CALayer', 'RepConv', 'RepConv2', 'CAB',
    'CAB1', 'CAB2', 'SkipUpSample'
]


def conv(in_channels, out_channels, kernel_size, bias=False, stride=1):
    """Conv2d with 'same' padding (``kernel_size // 2``), no bias by default (official ``conv``)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias,
                     stride=stride)


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channels of an (n, c, h, w) map (NAFNet style).

    ``y = weight * (x - mean_c) / sqrt(var_c + eps) + bias`` with the biased variance. The
    official code computes the same through a hand-written autograd function.

    Args:
        channels (int): Channels c.
        eps (float): Added to the variance. Default: 1e-6.
    """

    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        """(n, c, h, w) -> (n, c, h, w)."""
        check_tensor(x, type(self).__name__, 4, '(n, c, h, w)')
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        y = (x - mu) / (var + self.eps).sqrt()
        return self.weight.view(1, -1, 1, 1) * y + self.bias.view(1, -1, 1, 1)


class SimpleGate(nn.Module):
    """Split the channels in two halves and multiply them: (n, 2c, h, w) -> (n, c, h, w)."""

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        return x1 * x2


class SimpleGate2(nn.Module):
    """Sigmoid-gated halves, ``x1 * sigmoid(x2)``: (n, 2c, h, w) -> (n, c, h, w)."""

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        return x1 * torch.sigmoid(x2)


class CALayer(nn.Module):
    """Channel attention: global average pool, 1x1 conv, ReLU, 1x1 conv, sigmoid, rescale.

    Paper: Multi-Stage Progressive Image Restoration (MPRNet, CVPR 2021), as used by BSSTNet.

    Both convs are c -> c: the official constructor takes a ``reduction`` that it then
    overrides with 1, so there is no such argument here. The official ``CALayer2`` is identical
    and shares this class.

    Args:
        channel (int): Channels c.
        bias (bool): Bias in the convs. Default: False.
    """

    def __init__(self, channel, bias=False):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channel, channel, 1, padding=0, bias=bias),
            nn.ReLU(inplace=True),
            nn.Conv2d(channel, channel, 1, padding=0, bias=bias),
            nn.Sigmoid(),
        )

    def forward(self, x):
        """(n, c, h, w) -> (n, c, h, w)."""
        return x * self.conv_du(self.avg_pool(x))


class RepConv(nn.Module):
    """Two parallel depthwise convs (``kernel_size`` and 3x3) plus identity.

    Args:
        n_feat (int): Channels.
        kernel_size (int): Kernel size of the first depthwise conv.
        bias (bool): Bias in the convs.
    """

    def __init__(self, n_feat, kernel_size, bias):
        super().__init__()
        self.conv_1 = nn.Conv2d(n_feat, n_feat, kernel_size, bias=bias, padding=kernel_size // 2,
                                groups=n_feat)
        self.conv_2 = nn.Conv2d(n_feat, n_feat, 3, bias=bias, padding=1, groups=n_feat)

    def forward(self, x):
        """(n, c, h, w) -> (n, c, h, w)."""
        return self.conv_1(x) + self.conv_2(x) + x


class RepConv2(nn.Module):
    """A depthwise 3x3 conv plus identity (the official constructor also takes a
    ``kernel_size``, which it does not use).

    Args:
        n_feat (int): Channels.
        bias (bool): Bias in the conv.
    """

    def __init__(self, n_feat, bias):
        super().__init__()
        self.conv_2 = nn.Conv2d(n_feat, n_feat, 3, bias=bias, padding=1, groups=n_feat)

    def forward(self, x):
        """(n, c, h, w) -> (n, c, h, w)."""
        return self.conv_2(x) + x


class CAB(nn.Module):
    """Channel attention block: conv, activation, conv, channel attention, plus identity.

    Paper: Multi-Stage Progressive Image Restoration (MPRNet, CVPR 2021), as used by BSSTNet's
    encoder and decoder (Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring,
    CVPR 2024).

    Args:
        n_feat (int): Channels c.
        kernel_size (int): Kernel size of both convs.
        bias (bool): Bias in the convs (keyword only). Default: False.
        act (nn.Module, optional): Activation; None gives ``LeakyReLU(0.1)`` (BSSTNet's). A
            module with parameters (e.g. PReLU) adds ``body.1.*`` keys. Default: None.
    """

    def __init__(self, n_feat, kernel_size, *, bias=False, act=None):
        super().__init__()
        act = nn.LeakyReLU(negative_slope=0.1, inplace=True) if act is None else act
        self.CA = CALayer(n_feat, bias=bias)  # registered first, as official
        self.body = nn.Sequential(
            conv(n_feat, n_feat, kernel_size, bias=bias),
            act,
            conv(n_feat, n_feat, kernel_size, bias=bias),
        )

    def forward(self, x):
        """(t, c, h, w) -> (t, c, h, w); frames (or any batch) in the first dim."""
        check_tensor(x, type(self).__name__, 4, '(t, c, h, w)')
        return self.CA(self.body(x)) + x


def _gated_body(in_feat, n_feat, kernel_size, bias):
    """The body shared by CAB1 and CAB2 (indices 0..7 as in the official ``body``)."""
    return nn.Sequential(
        conv(in_feat, 2 * n_feat, 1, bias=bias),  # 0
        RepConv2(2 * n_feat, bias),  # 1
        SimpleGate(),  # 2
        RepConv(n_feat, kernel_size, bias),  # 3
        conv(n_feat, 2 * n_feat, 1, bias=bias),  # 4
        SimpleGate2(),  # 5
        CALayer(n_feat, bias=bias),  # 6 (official CALayer2)
        conv(n_feat, n_feat, 1, bias=bias),  # 7
    )


class CAB1(nn.Module):
    """Gated channel-attention block (NAFNet-like): LayerNorm2d, 1x1 conv to 2c, depthwise 3x3,
    gate, depthwise ``kernel_size`` + 3x3, 1x1 conv to 2c, sigmoid gate, channel attention,
    1x1 conv; added to the input scaled by a per-channel ``beta`` (zero at init).

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    The official constructor also takes ``reduction`` and ``act``, which it does not use.

    Args:
        n_feat (int): Channels c.
        kernel_size (int): Kernel size of the large depthwise conv.
        bias (bool): Bias in the convs (keyword only). Default: False.
    """

    def __init__(self, n_feat, kernel_size, *, bias=False):
        super().__init__()
        self.norm = LayerNorm2d(n_feat)
        self.body = _gated_body(n_feat, n_feat, kernel_size, bias)
        self.beta = nn.Parameter(torch.zeros((1, n_feat, 1, 1)))

    def forward(self, x):
        """(t, c, h, w) -> (t, c, h, w)."""
        check_tensor(x, type(self).__name__, 4, '(t, c, h, w)')
        return x + self.body(self.norm(x)) * self.beta


class CAB2(nn.Module):
    """:class:`CAB1` with ``add_channel`` extra input channels (e.g. shifted features or a
    second feature map) that pass a depthwise 3x3 conv and are concatenated before the norm;
    only the first ``n_feat`` channels form the residual.

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    As for :class:`CAB1`, the official ``reduction`` and ``act`` arguments, unused, are gone.

    Args:
        n_feat (int): Channels c of the residual path (and of the output).
        kernel_size (int): Kernel size of the large depthwise conv.
        bias (bool): Bias in the convs (keyword only). Default: False.
        add_channel (int): Extra input channels a, at least 1 (keyword only; the official
            default 0 cannot build its depthwise conv).
    """

    def __init__(self, n_feat, kernel_size, *, bias=False, add_channel):
        super().__init__()
        if add_channel < 1:
            raise ValueError(f'CAB2 needs add_channel >= 1, got {add_channel}')
        self.n_feat = n_feat
        self.add_channel = add_channel
        self.conv1 = nn.Conv2d(add_channel, add_channel, 3, bias=bias, padding=1,
                               groups=add_channel)
        self.norm = LayerNorm2d(n_feat + add_channel)
        self.body = _gated_body(n_feat + add_channel, n_feat, kernel_size, bias)
        self.beta = nn.Parameter(torch.zeros((1, n_feat, 1, 1)))

    def forward(self, x_input):
        """(t, c + a, h, w) -> (t, c, h, w)."""
        check_tensor(x_input, type(self).__name__, 4, '(t, c + add_channel, h, w)',
                     (None, self.n_feat + self.add_channel, None, None))
        shortcut, extra = x_input[:, :self.n_feat], x_input[:, self.n_feat:]
        res = self.body(self.norm(torch.cat((shortcut, self.conv1(extra)), dim=1)))
        return shortcut + res * self.beta


class SkipUpSample(nn.Module):
    """Bilinear x2 upsampling and a 1x1 conv (``in_channels + s_factor -> in_channels``), then
    add the skip feature.

    Paper: Multi-Stage Progressive Image Restoration (MPRNet, CVPR 2021), as used by BSSTNet.

    Args:
        in_channels (int): Output (and skip) channels.
        s_factor (int): Extra channels of the coarse input, which has ``in_channels + s_factor``.
    """

    def __init__(self, in_channels, s_factor):
        super().__init__()
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False),
            nn.Conv2d(in_channels + s_factor, in_channels, 1, stride=1, padding=0, bias=False))

    def forward(self, x, y):
        """x: (t, in + s, h, w), y: (t, in, 2h, 2w) -> (t, in, 2h, 2w)."""
        check_tensor(x, type(self).__name__, 4, '(t, c, h, w)')
        check_tensor(y, type(self).__name__, 4, '(t, c, 2h, 2w)')
        return self.up(x) + y
