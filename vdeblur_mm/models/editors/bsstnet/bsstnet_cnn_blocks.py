"""BSSTNet's CNN blocks: the MPRNet-style channel-attention blocks of its encoder and decoder and
the NAFNet-like gated blocks (``CAB1``/``CAB2``) of its propagation and shift blocks.

Module, submodule and parameter names follow the official code (``basicsr/archs/gshift_arch.py``
of huicongzhang/BSSTNet), so the ``state_dict`` of every block here has the official keys and
shapes and official weights load into it unchanged.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ...layers.checks import check_tensor

__all__ = [
    'conv', 'LayerNorm2d', 'SimpleGate', 'SimpleGate2', 'CALayer', 'RepConv', 'RepConv2', 'CAB',
    'CAB1', 'CAB2', 'SkipUpSample', 'pointwise_conv', 'depthwise_conv_nhwc',
    'gated_residual_nhwc'
]


def pointwise_conv(x, weight, bias=None):
    """A 1x1 convolution as one matrix product over the pixels of each sample.

    Args:
        x (Tensor): (n, c, h, w).
        weight (Tensor): (o, c) shared by the samples, or (n, o, c) per sample (a channel
            scaling folded into the weights, e.g. channel attention).
        bias (Tensor, optional): (o, ). Default: None.

    Returns:
        Tensor: (n, o, h, w), in the layout of ``x`` (contiguous or channels last).
    """
    n, c, h, w = x.shape
    if weight.dim() == 2 and x.is_contiguous(memory_format=torch.channels_last):
        # channels last: a linear layer over the last dim, output channels last too
        return F.linear(x.permute(0, 2, 3, 1), weight, bias).permute(0, 3, 1, 2)
    x = x.reshape(n, c, h * w)
    weight = weight.expand(n, -1, -1)
    y = torch.bmm(weight, x) if bias is None else torch.baddbmm(bias.view(1, -1, 1), weight, x)
    return y.view(n, -1, h, w)


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

    def scale_of_mean(self, mean):
        """The attention weights (n, c) from the pooled map (n, c): the two 1x1 convs of a
        1x1 map as matrix products (a convolution call costs more than the product)."""
        conv_a, _, conv_b, _ = self.conv_du
        s = F.linear(mean, conv_a.weight.flatten(1), conv_a.bias).relu_()
        return torch.sigmoid(F.linear(s, conv_b.weight.flatten(1), conv_b.bias))

    def scale(self, x):
        """The attention weights (n, c) of an (n, c, h, w) map."""
        return self.scale_of_mean(x.mean((2, 3)))

    def forward(self, x):
        """(n, c, h, w) -> (n, c, h, w)."""
        return x * self.scale(x)[:, :, None, None]


def _fuse_depthwise(*convs):
    """Kernel, bias and padding of one depthwise conv equal to the sum of ``convs`` (odd,
    'same'-padded depthwise convs of the same channels) plus the identity."""
    size = max(c.kernel_size[0] for c in convs)
    weight = None
    for c in convs:
        p = (size - c.kernel_size[0]) // 2
        w = F.pad(c.weight, (p, p, p, p)) if p else c.weight
        weight = w if weight is None else weight + w
    identity = torch.zeros_like(weight[:1])
    identity[..., size // 2, size // 2] = 1
    biases = [c.bias for c in convs if c.bias is not None]
    bias = sum(biases[1:], biases[0]) if biases else None
    return weight + identity, bias, size // 2


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

    def fused(self):
        """Weight and bias of the one depthwise conv equal to ``conv_1 + conv_2 + identity``
        (structural re-parameterisation: kernels summed, identity as a centre tap)."""
        return _fuse_depthwise(self.conv_1, self.conv_2)

    def forward(self, x):
        """(n, c, h, w) -> (n, c, h, w)."""
        weight, bias, padding = self.fused()
        return F.conv2d(x, weight, bias, padding=padding, groups=x.size(1))


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

    def fused(self):
        """Weight and bias of the one depthwise conv equal to ``conv_2 + identity``."""
        return _fuse_depthwise(self.conv_2)

    def forward(self, x):
        """(n, c, h, w) -> (n, c, h, w)."""
        weight, bias, padding = self.fused()
        return F.conv2d(x, weight, bias, padding=padding, groups=x.size(1))


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
        y = self.body(x)
        return torch.addcmul(x, y, self.CA.scale(y)[:, :, None, None])


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


def depthwise_conv_nhwc(x, weight, bias, padding):
    """Depthwise conv of a channels-last map: (n, h, w, c) -> (n, h, w, c)."""
    y = F.conv2d(x.permute(0, 3, 1, 2), weight, bias, padding=padding, groups=x.size(-1))
    return y.permute(0, 2, 3, 1).contiguous()  # a view: convs keep the channels-last layout


def gated_residual_nhwc(x, norm, body, beta):
    """``beta * body(norm(x))`` of :class:`CAB1` / :class:`CAB2` on a channels-last map
    (n, h, w, c_in) -> (n, h, w, c); the same function as the modules' definition with fewer
    passes over the map (every device):

    - channels last, the norm is one ``layer_norm`` over the last dim and the 1x1 convs are
      ``linear`` layers (plain matrix products, no layout changes);
    - ``RepConv2`` / ``RepConv`` run as one depthwise conv each (kernels summed, the identity
      as a centre tap) instead of two or three convs and the additions;
    - the channel attention's scaling and ``beta`` are folded into the last 1x1 conv (one
      weight matrix per sample), so neither multiplies the map.
    """
    conv0, rep2, _, rep, conv4, _, ca, conv7 = body
    n, h, w, _ = x.shape
    z = F.layer_norm(x, (x.size(-1), ), norm.weight, norm.bias, norm.eps)
    a, b = depthwise_conv_nhwc(F.linear(z, conv0.weight.flatten(1), conv0.bias),
                               *rep2.fused()).chunk(2, dim=-1)
    z = depthwise_conv_nhwc(a * b, *rep.fused())
    a, b = F.linear(z, conv4.weight.flatten(1), conv4.bias).chunk(2, dim=-1)
    z = (a * torch.sigmoid(b)).view(n, h * w, -1)
    beta = beta.view(-1)
    w7 = (conv7.weight.flatten(1) * beta[:, None]).unsqueeze(0) * ca.scale_of_mean(
        z.mean(1)).unsqueeze(1)  # (n, c, c): W7 diag(scale) per sample
    if conv7.bias is None:
        y = torch.bmm(z, w7.transpose(1, 2))
    else:
        y = torch.baddbmm((conv7.bias * beta).view(1, 1, -1), z, w7.transpose(1, 2))
    return y.view(n, h, w, -1)


def _to_nhwc(x):
    return x.permute(0, 2, 3, 1).contiguous()


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
        # the channels-last residual added to the input keeps the input's layout
        return x + gated_residual_nhwc(_to_nhwc(x), self.norm, self.body,
                                       self.beta).permute(0, 3, 1, 2)

    def forward_nhwc(self, x):
        """:meth:`forward` of a channels-last map: (t, h, w, c) -> (t, h, w, c)."""
        return x + gated_residual_nhwc(x, self.norm, self.body, self.beta)


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
        return self.forward_split(x_input[:, :self.n_feat], x_input[:, self.n_feat:])

    def forward_split(self, shortcut, extra):
        """:meth:`forward` of ``cat(shortcut, extra)`` without building that concatenation:
        shortcut (t, c, h, w), extra (t, a, h, w) -> (t, c, h, w)."""
        res = self.forward_split_nhwc(_to_nhwc(shortcut), _to_nhwc(extra), residual_only=True)
        return shortcut + res.permute(0, 3, 1, 2)

    def forward_split_nhwc(self, shortcut, extra, residual_only=False):
        """:meth:`forward_split` of channels-last maps: shortcut (t, h, w, c), extra
        (t, h, w, a) -> (t, h, w, c) (only the residual with ``residual_only``)."""
        extra = depthwise_conv_nhwc(extra, self.conv1.weight, self.conv1.bias, 1)
        res = gated_residual_nhwc(torch.cat((shortcut, extra), dim=-1), self.norm, self.body,
                                  self.beta)
        return res if residual_only else shortcut + res


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
        # the 1x1 conv and the bilinear upsampling commute (both linear, one across channels,
        # one across pixels; bilinear weights sum to 1, so a bias commutes too): convolving
        # first works on a quarter of the pixels and upsamples in_channels, not in + s
        upsample, conv1x1 = self.up
        # y first: the sum keeps the skip feature's memory layout
        return y + upsample(pointwise_conv(x, conv1x1.weight.flatten(1), conv1x1.bias))
