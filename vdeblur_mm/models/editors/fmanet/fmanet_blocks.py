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


def row_bands(h, band, halo):
    """``(a, b, y0, y1)`` for each band of ``band`` rows ``y0:y1`` of ``h`` rows, with the rows
    ``a:b`` it reads: ``halo`` more on each side, within the frame."""
    if band < 1:
        raise ValueError(f'row bands need band >= 1, got {band}')
    for y0 in range(0, h, band):
        y1 = min(h, y0 + band)
        yield max(0, y0 - halo), min(h, y1 + halo), y0, y1


def map_in_row_bands(fn, h, band, halo, out=None):
    """A map of ``h`` rows (dim -2) computed a band of ``band`` rows at a time (no gradients):
    ``fn(a, b)`` gives the map of the rows ``a:b`` a band reads (``halo`` more on each side,
    within the frame), of which the band's own rows are written into ``out`` (allocated from
    the first band when None). ``out`` may be a map ``fn`` reads when ``halo`` is 0."""
    for a, b, y0, y1 in row_bands(h, band, halo):
        y = fn(a, b)[..., y0 - a:y1 - a, :]
        if out is None:
            out = y.new_empty(*y.shape[:-2], h, y.shape[-1])
        out[..., y0:y1, :] = y
        del y
    return out


def add_in_row_bands_(x, fn, halo, band):
    """``x += fn(x)`` in place, computed in bands of ``band`` rows (dim -2), without gradients.

    ``fn`` maps a block of rows to the same rows (a per-pixel or convolutional map with
    zero padding) and each of its output rows depends only on input rows within ``halo``: each
    band is computed from its rows plus ``halo`` on each side and cropped, so the result equals
    ``x + fn(x)`` while only one band's maps exist at a time. Each band's result is added
    once the next band is computed (the next band reads rows of this one): no copies of rows.
    """
    h = x.shape[-2]
    if h <= band:
        return x.add_(fn(x))
    if band < halo:
        raise ValueError(f'row bands of {band} rows cannot carry a halo of {halo} rows')
    pending = None  # (y0, y1, result) of the previous band, not yet added
    for a, b, y0, y1 in row_bands(h, band, halo):
        y = fn(x[..., a:b, :])[..., y0 - a:y1 - a, :]
        if pending is not None:
            x[..., pending[0]:pending[1], :] += pending[2]
        pending = (y0, y1, y)
        del y
    x[..., pending[0]:pending[1], :] += pending[2]
    return x


def frame_conv(in_channels, out_channels, bias, kernel_size=(1, 3, 3)):
    """The official per-frame Conv3d (1x3x3, 'same' padding) as a :class:`FrameConv3d`."""
    padding = tuple(k // 2 for k in kernel_size)
    return FrameConv3d(in_channels, out_channels, kernel_size, padding=padding, bias=bias)


def frame_conv_pair(in_channels, mid_channels, out_channels, bias, kernel_size=(1, 3, 3)):
    """conv - LeakyReLU(0.2) - conv, the official heads (``f_conv``, ``d_conv``, ``a_conv``...)."""
    return nn.Sequential(frame_conv(in_channels, mid_channels, bias, kernel_size),
                         nn.LeakyReLU(negative_slope=0.2, inplace=True),
                         frame_conv(mid_channels, out_channels, bias, kernel_size))


def frame_conv_pair_chunks(pair, frame, chunk):
    """A :func:`frame_conv_pair` on one frame (n, 1, c, h, w) as ``(c0, out[:, c0:c0 + chunk])``
    pairs (n, chunk, h, w): the hidden map is made once, the output channels never all at
    once (a generator: each chunk exists while its consumer uses it)."""
    hidden = pair[1](pair[0](frame)[:, 0])
    last = pair[2]
    for c0 in range(0, last.out_channels, chunk):
        rows = slice(c0, c0 + chunk)
        yield c0, F.conv2d(hidden, last.weight[rows, :, 0],
                           None if last.bias is None else last.bias[rows],
                           padding=last.padding[1:])


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

    #: rows per band at inference: the dense maps of one band, not of the frame, exist at once
    #: (a band reads ``num_dense_layer`` rows more on each side: 13 % more RDB work for the
    #: four bands of a 180-row frame)
    inference_band = 45

    def residual_branch(self, x):
        """``conv(dense layers(x))``, the RDB without its residual; the dense layers write into
        one preallocated map instead of concatenating a growing copy per layer."""
        c = x.shape[2]
        dense = x.new_empty(*x.shape[:2], self.conv.in_channels, *x.shape[3:])
        dense[:, :, :c] = x
        for layer in self.layer:
            g = layer.conv.out_channels
            dense[:, :, c:c + g] = F.leaky_relu(layer.conv(dense[:, :, :c]), 0.2, inplace=True)
            c += g
        return self.conv(dense)

    def forward(self, x, in_place=False):
        """The RDB of (n, t, c, h, w) ``x``; without gradients in row bands, into ``x`` itself
        with ``in_place`` (the caller gives it up)."""
        if torch.is_grad_enabled():
            return self.conv(self.layer(x)) + x
        return add_in_row_bands_(x if in_place else x.clone(), self.residual_branch,
                                 len(self.layer), self.inference_band)


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
        lean = not torch.is_grad_enabled()
        for i, rdb in enumerate(self.rdbs):
            # without gradients every RDB after the first overwrites its input (a copy of ``x``)
            feat = rdb(feat, in_place=lean and i > 0)
            part = F.conv2d(feat.flatten(0, 1), fuse.weight[:, i * dim:(i + 1) * dim, 0])
            out = part if out is None else (out.add_(part) if lean else out + part)
            del part
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
        weight = self.body.weight.view(1, -1, 1, 1)
        if not torch.is_grad_enabled():  # one output map, then in place
            out = (x - mean) if self.with_bias else x.clone()
            out.mul_(var.add_(1e-5).rsqrt_()).mul_(weight)
            return out.add_(self.body.bias.view(1, -1, 1, 1)) if self.with_bias else out
        x = (x - mean) if self.with_bias else x  # BiasFree scales without centring
        out = x * torch.rsqrt(var + 1e-5) * weight
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
            part = F.conv2d(F.gelu(y1).mul_(y2), self.project_out.weight[:, rows[:len(rows) // 2]])
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

    def query_of(self, query):
        """The queries (n, dim, h, w) of the query map."""
        return self.q_dwconv(self.q(query))

    def _mix(self, gram, norm_q, norm_k):
        """``W_out . blockdiag(attn)`` (n, c, c) from the per-head Gram matrices of the raw
        queries and keys and their norms: ``project_out(attn @ v)`` is this map applied to the
        values, so the attended values are never built."""
        # normalize(q) @ normalize(k)^T is the raw Gram matrix scaled by the inverse norms
        # (F.normalize's eps): no normalised copies of q and k
        inv_q = norm_q.clamp_min(1e-12).reciprocal()
        inv_k = norm_k.clamp_min(1e-12).reciprocal()
        attn = (gram * inv_q[..., :, None] * inv_k[..., None, :] * self.temperature).softmax(-1)
        n, heads, d = attn.shape[:3]
        w_out = self.project_out.weight.view(heads * d, heads, d)
        return torch.einsum('ohi,nhij->nohj', w_out, attn).reshape(n, heads * d, heads * d)

    def _apply_mix(self, mix, v):
        n, c, h, w = v.shape
        out = (mix @ v.reshape(n, c, h * w)).view(n, c, h, w)
        return out if self.project_out.bias is None else \
            out + self.project_out.bias.view(1, -1, 1, 1)

    def forward(self, x, query):
        n, c, h, w = x.shape
        heads = self.num_heads
        q = self.query_of(query).view(n, heads, -1, h * w)
        k = self.key_or_value(x, 0).view(n, heads, -1, h * w)
        gram = q @ k.transpose(-2, -1)
        mix = self._mix(gram, q.norm(dim=-1), k.norm(dim=-1))
        del q, k
        return self._apply_mix(mix, self.key_or_value(x, 1))

    def add_banded_(self, x, norm, query, band):
        """``x += self(norm(x), query)`` in place, in bands of ``band`` rows (no gradients).

        The queries, keys and values are local maps (1x1 then depthwise 3x3 convolutions;
        ``norm`` is per pixel), and the attention couples the pixels only through the Gram
        matrices and norms, which are sums over pixels: a first pass over the bands sums them,
        a second applies the attention band by band. Only one band of queries, keys or values
        exists at a time (three full-frame maps and their copies before).
        """
        n, c, h, w = x.shape
        heads = self.num_heads
        gram = x.new_zeros(n, heads, c // heads, c // heads)
        sq_q, sq_k = x.new_zeros(2, n, heads, c // heads).unbind(0)
        for a, b, y0, y1 in row_bands(h, band, 1):
            crop = slice(y0 - a, y1 - a)
            q = self.query_of(query[:, :, a:b])[:, :, crop].reshape(n, heads, c // heads, -1)
            k = self.key_or_value(norm(x[:, :, a:b]), 0)[:, :, crop]
            k = k.reshape(n, heads, c // heads, -1)
            gram.add_(q @ k.transpose(-2, -1))
            sq_q.add_(torch.linalg.vector_norm(q, dim=-1).square_())
            sq_k.add_(torch.linalg.vector_norm(k, dim=-1).square_())
            del q, k
        mix = self._mix(gram, sq_q.sqrt_(), sq_k.sqrt_())
        return add_in_row_bands_(
            x, lambda rows: self._apply_mix(mix, self.key_or_value(norm(rows), 1)), 1, band)


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

    #: rows per band of the in-place inference path (a band of a 180x320 map is 18 % of it)
    inference_band = 32

    def forward(self, fw, centre, kd=None):
        if self.is_da and kd is None:
            raise ValueError('a degradation-aware attention block needs the kernel feature')
        steps = [(self.norm1, self.co_attn, centre), (self.norm2, self.ffn1, None)]
        if self.is_da:
            steps += [(self.norm3, self.da_attn, kd), (self.norm4, self.ffn2, None)]
        if not torch.is_grad_enabled():
            # the residuals are added in place, in row bands: the block overwrites ``fw`` (the
            # FRMA block hands over its fusion output, or the previous block's), and the maps
            # of the attention and the feed-forward exist for one band at a time
            band = self.inference_band
            for norm, layer, query in steps:
                if query is None:  # GDFN: 1x1 and depthwise 3x3 convolutions, halo 1
                    add_in_row_bands_(fw, lambda rows, n=norm, f=layer: f(n(rows)), 1, band)
                else:
                    layer.add_banded_(fw, norm, query, band)
            return fw
        for norm, layer, query in steps:
            y = layer(norm(fw)) if query is None else layer(norm(fw), query)
            fw = fw + y
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
