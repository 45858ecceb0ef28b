# Semantics of Chen-Rao/VD-Diff (transformer_z.py WADTL), MIT; THIRD_PARTY.md
"""VD-Diff's prior-modulated transformer (the official ``WADTL``, run at 1/4 resolution on the
second Haar level's LL band): a two-level Restormer-style U whose blocks are modulated by the
per-frame prior vector.

Block: ``x + Attn(mod1(LN(x)))``, then ``x + FFN(mod2(LN(x)))``; ``mod`` is ``x * s + b`` with
``[s, b]`` from a bias-free Linear of the prior (one per frame). The attention is Restormer's
transposed (channel) attention per frame; its qkv and output projections, and the feed-forward
network's input and output projections, are Conv3d with (3, 1, 1) kernels over time (zero
padded): the only places where frames meet. Tensors inside are (n, c, t, h, w).

Differences from the official code, none of which changes the function: the modulation Linear
belongs to the block (``mod1``/``mod2``), not to the attention/FFN; the never-called ``output``
upsampler of ``WADTL`` is not built (``convert.py``).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...layers.checks import check_tensor


def per_frame_conv(x, conv):
    """``conv`` (a Conv2d) on every frame of ``x`` (n, c, t, h, w).

    Through a (n t, c, h, w) copy: on the CPU, depthwise Conv2d is about twice as fast as the
    same weights as a (1, k, k) Conv3d on the clip, copies included."""
    return batch_to_frames(conv(frames_to_batch(x)), x.shape[0])


def frames_to_batch(x):
    """(n, c, t, h, w) -> (n * t, c, h, w)."""
    n, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(n * t, c, h, w)


def batch_to_frames(x, n):
    """(n * t, c, h, w) -> (n, c, t, h, w)."""
    nt, c, h, w = x.shape
    return x.view(n, nt // n, c, h, w).transpose(1, 2)


def temporal_conv(in_channels, out_channels, bias):
    """Conv3d with a (3, 1, 1) kernel over time, zero padded (frames out = frames in)."""
    return nn.Conv3d(in_channels, out_channels, (3, 1, 1), padding=(1, 0, 0), bias=bias)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of (n, c, ...) (the official 'WithBias' LayerNorm: biased
    variance, eps 1e-5)."""

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        mu = x.mean(1, keepdim=True)
        var = x.var(1, keepdim=True, unbiased=False)
        shape = (1, -1) + (1, ) * (x.dim() - 2)
        return (x - mu) / torch.sqrt(var + self.eps) * self.weight.view(shape) + \
            self.bias.view(shape)


class PriorModulation(nn.Module):
    """``x * s + b`` per frame, ``[s, b] = Linear(prior)`` (bias-free).

    ``forward(x, prior)``: ``x`` (n, c, t, h, w), ``prior`` (n * t, P) in frame order.
    """

    def __init__(self, prior_channels, channels):
        super().__init__()
        self.linear = nn.Linear(prior_channels, 2 * channels, bias=False)

    def forward(self, x, prior):
        n, c, t = x.shape[:3]
        mod = self.linear(prior).view(n, t, 2 * c).transpose(1, 2)[..., None, None]
        scale, shift = mod.chunk(2, 1)
        return x * scale + shift


class ChannelAttention(nn.Module):
    """Transposed (channel) self-attention per frame, with temporal qkv/output projections.

    Args:
        dim (int): Channels.
        num_heads (int): Heads (dividing ``dim``).
        bias (bool): Conv biases.
    """

    def __init__(self, dim, num_heads, bias=False):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim ({dim}) must be divisible by num_heads ({num_heads})')
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = temporal_conv(dim, 3 * dim, bias)
        self.qkv_dwconv = nn.Conv2d(3 * dim, 3 * dim, 3, 1, 1, groups=3 * dim, bias=bias)
        self.project_out = temporal_conv(dim, dim, bias)

    def forward(self, x):
        n, c, t, h, w = x.shape
        qkv = self.qkv_dwconv(frames_to_batch(self.qkv(x)))  # (n t, 3c, h, w)
        # (3, n, t, heads, c / heads, h * w): channel index = head * (c / heads) + j
        qkv = qkv.view(n, t, 3, self.num_heads, c // self.num_heads, h * w).permute(
            2, 0, 1, 3, 4, 5)
        q, k, v = F.normalize(qkv[0], dim=-1), F.normalize(qkv[1], dim=-1), qkv[2]
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(-1)
        out = (attn @ v).view(n, t, c, h, w).transpose(1, 2)
        return self.project_out(out)


class GatedFeedForward(nn.Module):
    """Restormer's gated-dconv feed-forward network with temporal input/output projections.

    Args:
        dim (int): Channels.
        expansion (float): Hidden channels ``int(dim * expansion)``.
        bias (bool): Conv biases.
    """

    def __init__(self, dim, expansion=2.66, bias=False):
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = temporal_conv(dim, 2 * hidden, bias)
        self.dwconv = nn.Conv2d(2 * hidden, 2 * hidden, 3, 1, 1, groups=2 * hidden, bias=bias)
        self.project_out = temporal_conv(hidden, dim, bias)

    def forward(self, x):
        x1, x2 = per_frame_conv(self.project_in(x), self.dwconv).chunk(2, 1)
        return self.project_out(F.gelu(x1) * x2)


class PriorTransformerBlock(nn.Module):
    """LN -> prior modulation -> attention, LN -> prior modulation -> FFN, both residual.

    Args:
        dim (int): Channels.
        num_heads (int): Attention heads.
        prior_channels (int): Length of the prior vector. Default: 256.
        ffn_expansion (float): FFN expansion. Default: 2.66.
        bias (bool): Conv biases. Default: False.
    """

    def __init__(self, dim, num_heads, prior_channels=256, ffn_expansion=2.66, bias=False):
        super().__init__()
        self.norm1 = ChannelLayerNorm(dim)
        self.mod1 = PriorModulation(prior_channels, dim)
        self.attn = ChannelAttention(dim, num_heads, bias)
        self.norm2 = ChannelLayerNorm(dim)
        self.mod2 = PriorModulation(prior_channels, dim)
        self.ffn = GatedFeedForward(dim, ffn_expansion, bias)

    def forward(self, x, prior):
        x = x + self.attn(self.mod1(self.norm1(x), prior))
        return x + self.ffn(self.mod2(self.norm2(x), prior))


class PriorTransformer(nn.Module):
    """The two-level U: ``num_blocks[0]`` blocks (dim), down (conv to dim/2 + PixelUnshuffle),
    ``num_blocks[1]`` blocks (2 dim), up (conv to 4 dim + PixelShuffle), concatenation with the
    skip, 1x1 conv to dim, ``num_blocks[0]`` blocks, plus the input.

    ``forward(x, prior)``: ``x`` (n, dim, t, h, w) with h, w even, ``prior`` (n * t, P).

    Args:
        dim (int): Channels of the first level. Default: 64.
        num_blocks (tuple[int]): Blocks of the first level (encoder and decoder each) and of the
            second. Default: (7, 2).
        heads (tuple[int]): Attention heads per level. Default: (4, 8).
        prior_channels (int): Length of the prior vector. Default: 256.
        ffn_expansion (float): FFN expansion. Default: 2.66.
        bias (bool): Conv biases. Default: False.
    """

    def __init__(self, dim=64, num_blocks=(7, 2), heads=(4, 8), prior_channels=256,
                 ffn_expansion=2.66, bias=False):
        super().__init__()
        if len(num_blocks) != 2 or len(heads) != 2:
            raise ValueError(f'the VD-Diff transformer has two levels: num_blocks and heads '
                             f'need two entries each, got {num_blocks} and {heads}')

        def level(d, nb, nh):
            return nn.ModuleList([PriorTransformerBlock(d, nh, prior_channels, ffn_expansion,
                                                        bias) for _ in range(nb)])

        self.encoder = level(dim, num_blocks[0], heads[0])
        self.down = nn.Sequential(nn.Conv2d(dim, dim // 2, 3, 1, 1, bias=bias),
                                  nn.PixelUnshuffle(2))
        self.latent = level(2 * dim, num_blocks[1], heads[1])
        self.up = nn.Sequential(nn.Conv2d(2 * dim, 4 * dim, 3, 1, 1, bias=bias),
                                nn.PixelShuffle(2))
        self.reduce = nn.Conv2d(2 * dim, dim, 1, bias=bias)
        self.decoder = level(dim, num_blocks[0], heads[0])
        self.dim = dim

    @staticmethod
    def _run(blocks, x, prior):
        for blk in blocks:
            x = blk(x, prior)
        return x

    def forward(self, x, prior):
        check_tensor(x, 'PriorTransformer input', 5, f'(n, {self.dim}, t, h, w)',
                     (None, self.dim))
        n = x.shape[0]
        if x.shape[-2] % 2 or x.shape[-1] % 2:
            raise ValueError(f'PriorTransformer: height and width must be even, got '
                             f'{x.shape[-2]}x{x.shape[-1]}')
        check_tensor(prior, 'prior', 2, '(n * t, P)', (n * x.shape[2], None))
        enc = self._run(self.encoder, x, prior)
        lat = self._run(self.latent, batch_to_frames(self.down(frames_to_batch(enc)), n), prior)
        dec = torch.cat([batch_to_frames(self.up(frames_to_batch(lat)), n), enc], 1)
        dec = self._run(self.decoder, per_frame_conv(dec, self.reduce), prior)
        return dec + x


__all__ = ['ChannelAttention', 'ChannelLayerNorm', 'GatedFeedForward', 'PriorModulation',
           'PriorTransformer', 'PriorTransformerBlock', 'batch_to_frames', 'frames_to_batch',
           'per_frame_conv', 'temporal_conv']
