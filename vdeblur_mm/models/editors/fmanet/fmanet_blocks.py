# Adapted from KAIST-VICLab/FMA-Net (model.py) and swz30/Restormer, MIT; THIRD_PARTY.md
"""FMA-Net's building blocks: per-frame 3-D convolutions, dense blocks, Restormer attention.

Every per-frame feature map here is frames-major, ``(n, t, c, h, w)`` (mmagic's clip layout): the
official ``(n, c, t, h, w)`` Conv3d layers with a 1x3x3 kernel are 2-D convolutions of each frame,
and run as one ``conv2d`` over the ``n * t`` frames (1.3-2.9x faster than ``conv3d`` on CPU).
The parameters keep the official Conv3d shapes and names (see :class:`FrameConv3d`), so the
official weights load after the renames of ``convert.py``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class FrameConv3d(nn.Conv3d):
    """``nn.Conv3d`` applied to frames-major clips (n, t, c, h, w) -> (n, t, c', h', w').

    A kernel of temporal size 1 is one ``conv2d`` over all frames; a larger one (NetR's 3x3x3
    ``d_conv``) is :meth:`forward_streamed`: a sum of one ``conv2d`` per temporal tap and input
    frame, equal to Conv3d with zero temporal padding ``padding[0]``. Only stride 1 in time is
    supported.
    """

    def forward(self, x):
        n, t = x.shape[:2]
        kt, pt = self.kernel_size[0], self.padding[0]
        if self.stride[0] != 1 or self.dilation[0] != 1 or kt - 1 != 2 * pt:
            raise ValueError('FrameConv3d keeps the number of frames: temporal stride and '
                             'dilation 1, padding (kernel - 1) / 2')
        if kt == 1:
            out = F.conv2d(x.flatten(0, 1), self.weight[:, :, 0], self.bias, self.stride[1:],
                           self.padding[1:], self.dilation[1:], self.groups)
            return out.unflatten(0, (n, t))
        return self.forward_streamed(lambda i: x[:, i], t)

    def forward_streamed(self, frame_fn, num_frames):
        """The same convolution when the input frames come one at a time: ``frame_fn(i)``
        returns input frame i (n, c, h, w), which is used for every output frame it reaches and
        then dropped (inference: a map of many channels is never held for all frames), or an
        iterable of ``(c0, chunk)`` pairs, its channels ``c0 : c0 + len`` one chunk at a
        time."""
        kt, pt = self.kernel_size[0], self.padding[0]
        args = (self.stride[1:], self.padding[1:], self.dilation[1:], self.groups)
        out = None
        for src in range(num_frames):
            frame = frame_fn(src)
            chunks = [(0, frame)] if torch.is_tensor(frame) else frame
            del frame
            for c0, chunk in chunks:
                rows = slice(c0, c0 + chunk.shape[1])
                if self.groups != 1 and chunk.shape[1] != self.in_channels:
                    raise ValueError('channel chunks need a convolution with groups=1')
                for tap in range(kt):
                    dst = src - (tap - pt)  # the output frame this tap of ``src`` reaches
                    if 0 <= dst < num_frames:
                        part = F.conv2d(chunk, self.weight[:, rows, tap], None, *args)
                        if out is None:
                            out = part.new_zeros(part.shape[0], num_frames, *part.shape[1:])
                        out[:, dst] += part
                        del part
                del chunk
        return out if self.bias is None else out + self.bias.view(1, 1, -1, 1, 1)


def per_frame(module, x, out=None):
    """``module`` on a frames-major clip (n, t, c, h, w), one frame at a time when no gradient
    is recorded (the intermediate maps of one frame, not of all, are alive at once).

    ``x`` may also be ``(fn, t)``: a function giving frame ``i`` as (n, 1, c, h, w) and the
    frame count, so that the input is never built for all frames either. ``out`` (no
    gradients): a clip-sized tensor the caller gives up (``x`` itself, or a map whose frame
    ``i`` is not read after input frame ``i`` is made) that receives the outputs: no second
    clip-sized map.
    """
    fn, t = x if isinstance(x, tuple) else ((lambda i: x[:, i:i + 1]), x.shape[1])
    if isinstance(x, torch.Tensor) and torch.is_grad_enabled():
        return module(x)
    if out is not None and torch.is_grad_enabled():
        raise ValueError('per_frame(out=...) writes in place: only without gradients')
    if out is None and t == 1 and isinstance(x, torch.Tensor):
        return module(x)
    for i in range(t):
        y = module(fn(i))
        if out is None:  # filled in place: no list of frames and no concatenated copy
            out = y.new_empty((y.shape[0], t, *y.shape[2:]))
        out[:, i:i + 1] = y
        del y
    return out


def conv_rows(conv, x, rows):
    """The output channels ``rows`` of the 2-D ``conv`` on ``x`` (its weight and bias rows; a
    depthwise conv takes the matching input channels in ``x`` and as many groups)."""
    groups = 1 if conv.groups == 1 else x.shape[1]
    if conv.groups != 1 and conv.groups != conv.in_channels:
        raise ValueError('conv_rows: a conv with groups=1 or a depthwise one')
    return F.conv2d(x, conv.weight[rows], None if conv.bias is None else conv.bias[rows],
                    conv.stride, conv.padding, conv.dilation, groups)


def frame_conv(in_channels, out_channels, bias, kernel_size=(1, 3, 3)):
    """The official per-frame Conv3d (1x3x3, 'same' padding) as a :class:`FrameConv3d`."""
    padding = tuple(k // 2 for k in kernel_size)
    return FrameConv3d(in_channels, out_channels, kernel_size, padding=padding, bias=bias)


def frame_conv_pair(in_channels, mid_channels, out_channels, bias, kernel_size=(1, 3, 3)):
    """conv - LeakyReLU(0.2) - conv, the official heads (``f_conv``, ``d_conv``, ``a_conv``...)."""
    return nn.Sequential(frame_conv(in_channels, mid_channels, bias, kernel_size),
                         nn.LeakyReLU(negative_slope=0.2, inplace=True),
                         frame_conv(mid_channels, out_channels, bias, kernel_size))


class DenseLayer(nn.Module):
    """conv 3x3 + LeakyReLU, concatenated to its input."""

    def __init__(self, dim, growth_rate, bias):
        super().__init__()
        self.conv = frame_conv(dim, growth_rate, bias)

    def forward(self, x):
        return torch.cat([x, F.leaky_relu(self.conv(x), 0.2, inplace=True)], 2)


class RDB(nn.Module):
    """Residual dense block: ``num_dense_layer`` dense layers, 1x1 fusion, residual."""

    def __init__(self, dim, growth_rate, num_dense_layer, bias):
        super().__init__()
        self.layer = nn.Sequential(*[DenseLayer(dim + growth_rate * i, growth_rate, bias)
                                     for i in range(num_dense_layer)])
        # the official fusion always has a bias (it ignores ``bias`` here)
        self.conv = FrameConv3d(dim + growth_rate * num_dense_layer, dim, 1)

    def forward(self, x):
        if torch.is_grad_enabled():
            return self.conv(self.layer(x)) + x
        # without gradients the dense layers write into one preallocated map of all their
        # channels instead of concatenating a growing copy per layer
        c = x.shape[2]
        dense = x.new_empty(*x.shape[:2], self.conv.in_channels, *x.shape[3:])
        dense[:, :, :c] = x
        for layer in self.layer:
            g = layer.conv.out_channels
            dense[:, :, c:c + g] = F.leaky_relu(layer.conv(dense[:, :, :c]), 0.2, inplace=True)
            c += g
        return self.conv(dense).add_(x)


class RRDB(nn.Module):
    """``num_RDB`` chained RDBs; a 1x1 conv fuses all their outputs, then a 3x3 conv, residual.

    The 1x1 fusion of the concatenated outputs is a sum of its input-channel slices applied to
    each output as it is produced: the (num_RDB * dim)-channel concatenation (746 MB for three
    180x320 frames at dim 90) is never built.
    """

    def __init__(self, dim, num_RDB, growth_rate, num_dense_layer, bias):  # noqa: N803
        super().__init__()
        self.rdbs = nn.ModuleList([RDB(dim, growth_rate, num_dense_layer, bias)
                                   for _ in range(num_RDB)])
        self.conv = nn.Sequential(FrameConv3d(dim * num_RDB, dim, 1, bias=bias),
                                  frame_conv(dim, dim, bias))

    def forward(self, x):
        fuse = self.conv[0]
        n, t, dim = x.shape[:3]
        out, feat = None, x
        for i, rdb in enumerate(self.rdbs):
            feat = rdb(feat)
            part = F.conv2d(feat.flatten(0, 1), fuse.weight[:, i * dim:(i + 1) * dim, 0])
            out = part if out is None else out + part
        if fuse.bias is not None:
            out = out + fuse.bias.view(1, -1, 1, 1)
        return self.conv[1](out.unflatten(0, (n, t))) + x


class LayerNorm(nn.Module):
    """Restormer's LayerNorm over the channels of (n, c, h, w) maps ('WithBias' or 'BiasFree'),
    computed along dim 1 instead of on a transposed copy."""

    def __init__(self, dim, layer_norm_type='WithBias'):
        super().__init__()
        if layer_norm_type not in ('WithBias', 'BiasFree'):
            raise ValueError(f"LayerNorm_type must be 'WithBias' or 'BiasFree', got "
                             f'{layer_norm_type!r}')
        self.with_bias = layer_norm_type == 'WithBias'
        self.body = nn.Module()  # the official parameters live in ``body``
        self.body.weight = nn.Parameter(torch.ones(dim))
        self.body.bias = nn.Parameter(torch.zeros(dim)) if self.with_bias else None

    def forward(self, x):
        var, mean = torch.var_mean(x, dim=1, keepdim=True, correction=0)
        x = (x - mean) if self.with_bias else x  # BiasFree scales without centring
        out = x * torch.rsqrt(var + 1e-5) * self.body.weight.view(1, -1, 1, 1)
        return out + self.body.bias.view(1, -1, 1, 1) if self.with_bias else out


class FeedForward(nn.Module):
    """Restormer's gated-dconv feed-forward network (GDFN)."""

    def __init__(self, dim, ffn_expansion_factor, bias):
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2,
                                bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    #: hidden channels per step at inference (the two 2 x hidden maps are never built whole)
    inference_chunk = 64

    def forward(self, x):
        if torch.is_grad_enabled():
            x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
            return self.project_out(F.gelu(x1) * x2)
        # the gate pairs hidden channel i with i + hidden and the dwconv is depthwise: both
        # halves of a chunk of channels are computed alone, and project_out sums the chunks
        hidden = self.project_out.in_channels
        out = None
        for a in range(0, hidden, self.inference_chunk):
            rows = torch.cat([torch.arange(a, min(a + self.inference_chunk, hidden))] * 2)
            rows[len(rows) // 2:] += hidden
            rows = rows.to(x.device)
            y = conv_rows(self.dwconv, conv_rows(self.project_in, x, rows), rows)
            y1, y2 = y.chunk(2, dim=1)
            part = F.conv2d(F.gelu(y1) * y2, self.project_out.weight[:, rows[:len(rows) // 2]])
            del y, y1, y2  # not alive while the next chunk's maps are made
            out = part if out is None else out.add_(part)
        return out if self.project_out.bias is None else \
            out + self.project_out.bias.view(1, -1, 1, 1)


class Attention(nn.Module):
    """Restormer's transposed (channel) attention, MDTA, with the query from another map.

    ``forward(x, query)``: keys and values from ``x``, queries from ``query`` (both
    (n, dim, h, w)); attention between the ``dim / heads`` channels of each head over all pixels,
    with L2-normalised queries and keys and a learnable temperature per head.
    """

    def __init__(self, dim, num_heads, bias):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim ({dim}) must be divisible by num_heads ({num_heads})')
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.q = nn.Conv2d(dim, dim, 1, bias=bias)
        self.q_dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=bias)
        self.kv_conv = nn.Conv2d(dim, dim * 2, 1, bias=bias)
        self.kv_dwconv = nn.Conv2d(dim * 2, dim * 2, 3, padding=1, groups=dim * 2, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def key_or_value(self, x, half):
        """The keys (``half`` 0) or the values (1) of ``x``: that half of ``kv_conv`` then of
        the depthwise ``kv_dwconv`` (the two halves never exist at once)."""
        c = x.shape[1]
        rows = slice(half * c, (half + 1) * c)
        return conv_rows(self.kv_dwconv, conv_rows(self.kv_conv, x, rows), rows)

    def forward(self, x, query):
        n, c, h, w = x.shape
        heads = self.num_heads
        q = self.q_dwconv(self.q(query)).view(n, heads, -1, h * w)
        k = self.key_or_value(x, 0).view(n, heads, -1, h * w)
        # normalize(q) @ normalize(k)^T is the raw Gram matrix scaled by the inverse norms
        # (F.normalize's eps): no normalised copies of q and k
        gram = q @ k.transpose(-2, -1)
        inv_q = q.norm(dim=-1).clamp_min(1e-12).reciprocal()
        inv_k = k.norm(dim=-1).clamp_min(1e-12).reciprocal()
        del q, k
        attn = (gram * inv_q[..., :, None] * inv_k[..., None, :] * self.temperature).softmax(-1)
        # project_out(attn @ v) = (W_out . blockdiag(attn)) @ v: one c x c map per sample, so
        # the attended values are never built
        w_out = self.project_out.weight.view(c, heads, c // heads)
        mix = torch.einsum('ohi,nhij->nohj', w_out, attn).reshape(n, c, c)
        out = (mix @ self.key_or_value(x, 1).view(n, c, h * w)).view(n, c, h, w)
        return out if self.project_out.bias is None else \
            out + self.project_out.bias.view(1, -1, 1, 1)


class MultiAttentionBlock(nn.Module):
    """Centre-oriented attention + GDFN, then (NetR only) degradation-aware attention + GDFN.

    ``forward(fw, centre, kd)``: ``fw`` (n, dim, h, w) the warped-feature map (overwritten by
    the result when no gradient is recorded); ``centre`` the un-normalised centre-frame
    feature, the query of the CO attention; ``kd`` the degradation-kernel feature, the query
    of the DA attention (None without DA).
    """

    def __init__(self, dim, num_heads, layer_norm_type, ffn_expansion_factor, bias, is_da):
        super().__init__()
        self.norm1 = LayerNorm(dim, layer_norm_type)
        self.co_attn = Attention(dim, num_heads, bias)
        self.norm2 = LayerNorm(dim, layer_norm_type)
        self.ffn1 = FeedForward(dim, ffn_expansion_factor, bias)
        self.is_da = is_da
        if is_da:
            self.norm3 = LayerNorm(dim, layer_norm_type)
            self.da_attn = Attention(dim, num_heads, bias)
            self.norm4 = LayerNorm(dim, layer_norm_type)
            self.ffn2 = FeedForward(dim, ffn_expansion_factor, bias)

    def forward(self, fw, centre, kd=None):
        if self.is_da and kd is None:
            raise ValueError('a degradation-aware attention block needs the kernel feature')
        steps = [(self.norm1, self.co_attn, centre), (self.norm2, self.ffn1, None)]
        if self.is_da:
            steps += [(self.norm3, self.da_attn, kd), (self.norm4, self.ffn2, None)]
        # without gradients the residuals are added in place: the block overwrites ``fw``
        # (the FRMA block hands over its fusion output, or the previous block's)
        residual_in_place = not torch.is_grad_enabled()
        for norm, layer, query in steps:
            y = layer(norm(fw)) if query is None else layer(norm(fw), query)
            fw = fw.add_(y) if residual_in_place else fw + y
            del y  # not alive during the next step
        return fw


class PixelShuffleBlock(nn.Module):
    """Two conv + PixelShuffle(2) steps (x4) and a conv, LeakyReLU(0.2) after each."""

    def __init__(self, channels, bias):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels * 4, 3, padding=1, bias=bias)
        self.conv2 = nn.Conv2d(channels, channels * 4, 3, padding=1, bias=bias)
        self.conv3 = nn.Conv2d(channels, channels, 3, padding=1, bias=bias)

    def forward(self, x):
        x = F.leaky_relu(F.pixel_shuffle(self.conv1(x), 2), 0.2, inplace=True)
        x = F.leaky_relu(F.pixel_shuffle(self.conv2(x), 2), 0.2, inplace=True)
        return F.leaky_relu(self.conv3(x), 0.2, inplace=True)
