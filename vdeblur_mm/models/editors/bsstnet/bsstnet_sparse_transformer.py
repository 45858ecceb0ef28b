"""BSSTNet's blur-aware spatio-temporal sparse transformer (BSST): soft split / soft composition,
sparse window attention with rolled and pooled keys, blur-driven token selection.

Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

Parameter names follow the official ``basicsr/archs/propainter/sparse_transformer.py`` and
``BSST.init_SparseTransformer`` so that official checkpoints load after renaming the prefixes
(``softsplit.*``, ``softcomp.*`` unchanged, ``transsqattn.*`` -> ``transformer.*``) and dropping the
size-dependent buffers ``*.attention.valid_ind_rolled`` and ``*.attention.mask_padding`` (this
implementation computes them for the actual token grid and keeps them out of the state dict).

Differences from the official code (all documented where they occur):

- any feature size whose sides are divisible by the soft-split stride (official: 64 x 64 features
  only, i.e. 256 x 256 patches), any number of frames (official: multiples of 4);
- token grids that are not window multiples are padded as in the official code, but padded tokens
  are excluded from the keys (the official lets their bias-only keys be attended); window blur
  scores average the valid part of partial windows (the official pooling drops them);
- unselected frames are grouped per window; a ragged last group is smaller (the official code
  would mix windows there; with T divisible by 4 and group size T/4 it never happens);
- no Python loop over batch elements or windows: gather/scatter and
  ``F.scaled_dot_product_attention``; windows without selected frames cost nothing in the sparse
  branch;
- token selection is correct in every layer by default; ``official_aliasing=True`` reproduces the
  official in-place zeroing that makes layers 2-4 select by argsort over ties.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from ...layers.checks import check_tensor, check_video

__all__ = [
    'SoftSplit', 'SoftComp', 'FusionFeedForward', 'SparseWindowAttention',
    'TemporalSparseTransformer', 'TemporalSparseTransformerBlock', 'window_blur_scores',
    'select_sparse_tokens', 'BlurAwareSparseTransformer'
]

_DEFAULT_T2T = dict(kernel_size=(5, 5), stride=(2, 2), padding=(2, 2))


def _pair(x):
    if isinstance(x, int):
        return (x, x)
    x = tuple(int(i) for i in x)
    if len(x) != 2:
        raise ValueError(f'expected an int or a pair, got {x}')
    return x


def _grid_size(size, kernel_size, stride, padding):
    """Token grid (fh, fw) of an unfold over ``size`` (h, w)."""
    return tuple((s + 2 * p - k) // st + 1
                 for s, k, st, p in zip(size, kernel_size, stride, padding))


def normal_init_(module, gain=0.01):
    """Official ``init_weights(init_type='normal', gain)``: every Conv/Linear weight
    ~ N(0, gain), biases 0, in ``module`` and all its submodules."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class SoftSplit(nn.Module):
    """Soft split: overlapping patches (unfold) embedded into tokens by a linear layer.

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    Args:
        channels (int): Feature channels c.
        hidden (int): Token dimension.
        kernel_size (int | tuple[int]): Patch size. Default: (5, 5).
        stride (int | tuple[int]): Patch stride. Default: (2, 2).
        padding (int | tuple[int]): Zero padding of the unfold. Default: (2, 2).
    """

    def __init__(self, channels, hidden, kernel_size=(5, 5), stride=(2, 2), padding=(2, 2)):
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.embedding = nn.Linear(self.kernel_size[0] * self.kernel_size[1] * channels, hidden)

    def forward(self, x, n):
        """Forward.

        Args:
            x (Tensor): Features, (n * t, c, h, w).
            n (int): Batch size n.

        Returns:
            Tensor: Tokens, (n, t, fh, fw, hidden), fh = (h + 2p - k) // s + 1 (same for fw).
        """
        bt, _, h, w = x.shape
        if bt % n:
            raise ValueError(f'SoftSplit: leading dim {bt} is not a multiple of n={n}')
        fh, fw = _grid_size((h, w), self.kernel_size, self.stride, self.padding)
        feat = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)
        feat = self.embedding(feat.transpose(1, 2))
        return feat.reshape(n, bt // n, fh, fw, feat.size(-1))


class SoftComp(nn.Module):
    """Soft composition: tokens projected back to patches, folded (overlaps summed) and refined
    by a 3x3 convolution.

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    The official module also constructs an unused LeakyReLU (no parameters); it is omitted.

    Args:
        channels (int): Feature channels c.
        hidden (int): Token dimension.
        kernel_size (int | tuple[int]): Patch size. Default: (5, 5).
        stride (int | tuple[int]): Patch stride. Default: (2, 2).
        padding (int | tuple[int]): Padding of the fold. Default: (2, 2).
    """

    def __init__(self, channels, hidden, kernel_size=(5, 5), stride=(2, 2), padding=(2, 2)):
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.embedding = nn.Linear(hidden, self.kernel_size[0] * self.kernel_size[1] * channels)
        self.bias_conv = nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x, output_size):
        """Forward.

        Args:
            x (Tensor): Tokens, (n, t, fh, fw, hidden).
            output_size (tuple[int]): Feature size (h, w).

        Returns:
            Tensor: Features, (n * t, c, h, w).
        """
        n, t, fh, fw, _ = x.shape
        feat = self.embedding(x.reshape(n * t, fh * fw, x.size(-1))).transpose(1, 2)
        feat = F.fold(feat, output_size=tuple(output_size), kernel_size=self.kernel_size,
                      stride=self.stride, padding=self.padding)
        return self.bias_conv(feat)


class FusionFeedForward(nn.Module):
    """ProPainter's fusion feed-forward: Linear, then the hidden channels are folded back onto the
    feature map as overlapping patches (averaged over the overlaps) and unfolded again, GELU,
    Linear.

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    Args:
        dim (int): Token dimension.
        hidden_dim (int): Hidden dimension, a multiple of kh * kw. Default: 1000.
        t2t_params (dict, optional): ``kernel_size``, ``stride``, ``padding`` of the soft split.
            None means (5, 5), (2, 2), (2, 2) (BSSTNet). Default: None.
    """

    def __init__(self, dim, hidden_dim=1000, t2t_params=None):
        super().__init__()
        t2t = dict(_DEFAULT_T2T, **(t2t_params or {}))
        self.kernel_size = _pair(t2t['kernel_size'])
        self.stride = _pair(t2t['stride'])
        self.padding = _pair(t2t['padding'])
        self.kernel_shape = self.kernel_size[0] * self.kernel_size[1]
        if hidden_dim % self.kernel_shape:
            raise ValueError(f'FusionFeedForward: hidden_dim={hidden_dim} must be a multiple of '
                             f'kh * kw = {self.kernel_shape}')
        # names as the official module (fc1.0, fc2.1) for weight conversion
        self.fc1 = nn.Sequential(nn.Linear(dim, hidden_dim))
        self.fc2 = nn.Sequential(nn.GELU(), nn.Linear(hidden_dim, dim))

    def forward(self, x, output_size):
        """Forward.

        Args:
            x (Tensor): Tokens, (b, t * fh * fw, dim).
            output_size (tuple[int]): Feature size (h, w) the tokens were split from.

        Returns:
            Tensor: (b, t * fh * fw, dim).
        """
        output_size = tuple(output_size)
        fh, fw = _grid_size(output_size, self.kernel_size, self.stride, self.padding)
        n_vecs = fh * fw
        x = self.fc1(x)
        b, n, c = x.shape
        if n % n_vecs:
            raise ValueError(f'FusionFeedForward: {n} tokens are not a multiple of the '
                             f'{fh}x{fw} grid of output_size {output_size}')
        fold = dict(output_size=output_size, kernel_size=self.kernel_size, padding=self.padding,
                    stride=self.stride)
        normalizer = F.fold(x.new_ones(1, self.kernel_shape, n_vecs), **fold)
        x = F.fold(x.reshape(-1, n_vecs, c).transpose(1, 2), **fold) / normalizer
        x = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)
        return self.fc2(x.transpose(1, 2).reshape(b, n, c))


class _Layout:
    """Size-dependent index tables of SparseWindowAttention for one token grid."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class SparseWindowAttention(nn.Module):
    """BSST's sparse window attention.

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    Tokens are split into ``window_size`` windows. Every (frame, window) slot is either selected
    (``qmask``) or not:

    - in every window, the selected query frames attend jointly to the keys/values of that
      window's selected KV frames (``kvmask``); each KV frame contributes its own window tokens,
      the "rolled" neighbour tokens (ProPainter: the window's tokens shifted by
      ``expand = (w + 1) // 2`` towards the four diagonals, zero-padded at the grid border,
      keeping only positions that fall outside the window: 4 x (64 - 16) = 192 for 8 x 8
      windows) and the frame's pooled global tokens (``pool_layer`` on the input, then ``key`` /
      ``value``);
    - all unselected slots do plain window self-attention over own-window tokens only, jointly
      within groups of ``group_size`` consecutive unselected frames of the same window.

    Vectorised: active windows (with any selected frame) are gathered with index ops and all
    attentions run through ``F.scaled_dot_product_attention``; windows with no selected frame
    cost nothing in the sparse branch. Each active window must have the same number of selected
    query frames, and the same number of selected KV frames (``select_sparse_tokens``
    guarantees it; a ValueError is raised otherwise). KV selections in windows without selected
    queries are ignored.

    Differences from the official code: the border zero padding of the rolled keys is computed
    for the actual token grid (official: a hard-coded 32 x 32 grid, stored as the buffers
    ``mask_padding`` / ``valid_ind_rolled``, which are dropped on conversion; here they are
    cached per size outside the state dict). Grids that are not window multiples are zero-padded
    as official, but keys whose source token is padding (own, rolled, or a pooled token whose
    cell is all padding) are masked out; the official attends to their bias-only keys. Ragged
    unselected groups stay within their window (the official would mix windows). Dropout (0 in
    the official code) is omitted.

    Args:
        dim (int): Token dimension.
        num_heads (int): Attention heads.
        window_size (int | tuple[int]): Window size (wh, ww). Default: (8, 8).
        pool_size (int | tuple[int]): Kernel and stride of the depthwise pooling conv, at most
            the window size. Default: (4, 4).
        qkv_bias (bool): Bias of the query/key/value projections. Default: True.
    """

    def __init__(self, dim, num_heads, window_size=(8, 8), pool_size=(4, 4), qkv_bias=True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim={dim} must be divisible by num_heads={num_heads}')
        self.dim = dim
        self.num_heads = num_heads
        self.window_size = _pair(window_size)
        self.pool_size = _pair(pool_size)
        if any(p > w for p, w in zip(self.pool_size, self.window_size)):
            raise ValueError(f'pool_size {self.pool_size} must not exceed window_size '
                             f'{self.window_size}')
        self.expand_size = tuple((w + 1) // 2 for w in self.window_size)
        self.key = nn.Linear(dim, dim, qkv_bias)
        self.query = nn.Linear(dim, dim, qkv_bias)
        self.value = nn.Linear(dim, dim, qkv_bias)
        self.proj = nn.Linear(dim, dim)
        ph, pw = self.pool_size
        self.pool_layer = nn.Conv2d(dim, dim, kernel_size=self.pool_size, stride=self.pool_size,
                                    padding=(0, 0), groups=dim)
        with torch.no_grad():
            self.pool_layer.weight.fill_(1. / (ph * pw))
            self.pool_layer.bias.zero_()
        self._layouts = {}

    # ----------------------------------------------------------------------------------------
    # size-dependent index tables
    def _rolled_offsets(self):
        """Per direction (official order tl, tr, bl, br): roll shift (dy, dx) and the kept
        window-local positions (official ``valid_ind_rolled``), row-major."""
        wh, ww = self.window_size
        e0, e1 = self.expand_size
        ly = torch.arange(wh).repeat_interleave(ww)
        lx = torch.arange(ww).repeat(wh)
        keeps = [
            ((-e0, -e1), (ly >= wh - e0) | (lx >= ww - e1)),
            ((-e0, e1), (ly >= wh - e0) | (lx < e1)),
            ((e0, -e1), (ly < e0) | (lx >= ww - e1)),
            ((e0, e1), (ly < e0) | (lx < e1)),
        ]
        return [(dy, dx, ly[keep], lx[keep]) for (dy, dx), keep in keeps]

    def _layout(self, h, w, device):
        key = (h, w, str(device))
        layout = self._layouts.get(key)
        if layout is None:
            if len(self._layouts) >= 32:
                self._layouts.clear()
            layout = self._build_layout(h, w, device)
            self._layouts[key] = layout
        return layout

    def _build_layout(self, h, w, device):
        wh, ww = self.window_size
        ph, pw = self.pool_size
        nwh, nww = math.ceil(h / wh), math.ceil(w / ww)
        H, W = nwh * wh, nww * ww
        oy = (torch.arange(nwh) * wh).repeat_interleave(nww)[:, None]  # (nW, 1)
        ox = (torch.arange(nww) * ww).repeat(nwh)[:, None]
        ly = torch.arange(wh).repeat_interleave(ww)
        lx = torch.arange(ww).repeat(wh)
        own_valid = ((oy + ly) < h) & ((ox + lx) < w)  # (nW, N)
        # torch.roll semantics: rolled[Y, X] = k[Y - dy, X - dx]; official zero-fills the
        # wrapped part, i.e. sources outside the (padded) grid read zeros.
        sy = torch.cat([oy + ry - dy for dy, _, ry, _ in self._rolled_offsets()], 1)
        sx = torch.cat([ox + rx - dx for _, dx, _, rx in self._rolled_offsets()], 1)
        inside = (sy >= 0) & (sy < H) & (sx >= 0) & (sx < W)
        roll_index = torch.where(inside, sy * W + sx, torch.full_like(sy, H * W))
        roll_valid = ~inside | ((sy < h) & (sx < w))  # zero keys count, padding does not
        pool_valid = (((torch.arange(H // ph) * ph) < h)[:, None]
                      & ((torch.arange(W // pw) * pw) < w)[None]).flatten()
        key_valid = torch.cat(
            [own_valid, roll_valid, pool_valid[None].expand(own_valid.size(0), -1)], 1)
        return _Layout(
            H=H, W=W, nwh=nwh, nww=nww, padded=(H != h or W != w),
            roll_index=roll_index.to(device), own_valid=own_valid.to(device),
            key_valid=key_valid.to(device), all_valid=bool(key_valid.all()))

    # ----------------------------------------------------------------------------------------
    def _partition(self, x, layout):
        """(b, t, H, W, c) -> (b, nW, t, wh * ww, c)."""
        b, t, _, _, c = x.shape
        wh, ww = self.window_size
        x = x.reshape(b, t, layout.nwh, wh, layout.nww, ww, c).permute(0, 2, 4, 1, 3, 5, 6)
        return x.reshape(b, layout.nwh * layout.nww, t, wh * ww, c)

    def _unpartition(self, x, layout):
        """(b, nW, t, wh * ww, c) -> (b, t, H, W, c)."""
        b, _, t, _, c = x.shape
        wh, ww = self.window_size
        x = x.reshape(b, layout.nwh, layout.nww, t, wh, ww, c).permute(0, 3, 1, 4, 2, 5, 6)
        return x.reshape(b, t, layout.H, layout.W, c)

    def _heads(self, x):
        """(m, k, l, c) -> (m, heads, k * l, c // heads)."""
        m, k, n_tok, c = x.shape
        x = x.reshape(m, k, n_tok, self.num_heads, c // self.num_heads).permute(0, 3, 1, 2, 4)
        return x.reshape(m, self.num_heads, k * n_tok, c // self.num_heads)

    def _unheads(self, y, k):
        """(m, heads, k * l, c // heads) -> (m, k, l, c)."""
        m, nh, kl, ch = y.shape
        return y.reshape(m, nh, k, kl // k, ch).permute(0, 2, 3, 1, 4).reshape(
            m, k, kl // k, nh * ch)

    def rolled_tokens(self, x):
        """The rolled neighbour tokens of every window, official order and border zero padding.

        Args:
            x (Tensor): Tokens on a grid that is a window multiple, (b, t, H, W, c).

        Returns:
            Tensor: (b, t, nW, R, c), windows in row-major order, R = 4 * (wh * ww -
            (wh - eh) * (ww - ew)) with (eh, ew) = expand_size (192 for 8 x 8 windows).
        """
        b, t, H, W, c = x.shape
        layout = self._layout(H, W, x.device)
        if layout.padded:
            raise ValueError(f'rolled_tokens: grid {H}x{W} is not a multiple of the window '
                             f'{self.window_size}')
        flat = torch.cat([x.reshape(b, t, H * W, c), x.new_zeros(b, t, 1, c)], 2)
        return flat[:, :, layout.roll_index]

    def _check_masks(self, qmask, kvmask, b, t, layout):
        shape = (b, t, layout.nwh, layout.nww)
        masks = []
        for name, m in (('qmask', qmask), ('kvmask', kvmask)):
            if tuple(m.shape) != shape:
                raise ValueError(f'{name} must have shape (b, t, nwh, nww) = {shape}, got '
                                 f'{tuple(m.shape)}')
            m = m if m.dtype == torch.bool else m != 0
            masks.append(m.reshape(b, t, -1).transpose(1, 2))  # (b, nW, t)
        return masks

    def forward(self, x, qmask, kvmask, group_size=None):
        """Forward.

        Args:
            x (Tensor): (Normalised) tokens, (b, t, h, w, c).
            qmask (Tensor): Bool, (b, t, nwh, nww), nwh = ceil(h / wh): selected query slots.
            kvmask (Tensor): Bool, (b, t, nwh, nww): selected key/value slots.
            group_size (int, optional): Unselected frames attended jointly. None means
                max(1, t // 4) (official). Default: None.

        Returns:
            Tensor: (b, t, h, w, c).
        """
        check_tensor(x, 'x', 5, '(b, t, h, w, c)', (None, None, None, None, self.dim))
        b, t, h, w, c = x.shape
        group_size = max(1, t // 4) if group_size is None else int(group_size)
        if group_size < 1:
            raise ValueError(f'group_size must be >= 1, got {group_size}')
        layout = self._layout(h, w, x.device)
        qm, kvm = self._check_masks(qmask, kvmask, b, t, layout)
        H, W = layout.H, layout.W
        if layout.padded:
            x = F.pad(x, (0, 0, 0, W - w, 0, H - h))
        q, k, v = self.query(x), self.key(x), self.value(x)
        qw, kw, vw = (self._partition(a, layout) for a in (q, k, v))  # (b, nW, t, N, c)
        out = torch.zeros_like(qw)

        # selected slots: joint spatio-temporal attention per active window
        q_count = qm.sum(-1)  # (b, nW)
        bi, wi = (q_count > 0).nonzero(as_tuple=True)
        if bi.numel():
            n_act = bi.numel()
            kq = q_count[bi, wi]
            kkv = kvm.sum(-1)[bi, wi]
            n_q, n_kv = int(kq[0]), int(kkv[0])
            if bool((kq != n_q).any()) or n_kv == 0 or bool((kkv != n_kv).any()):
                raise ValueError(
                    'every window with selected query frames must have the same number of '
                    'selected query frames and the same (non-zero) number of selected KV '
                    f'frames; got query counts {sorted(set(kq.tolist()))} and KV counts '
                    f'{sorted(set(kkv.tolist()))}')
            qf = qm[bi, wi].nonzero()[:, 1].reshape(n_act, n_q)  # frame indices
            kf = kvm[bi, wi].nonzero()[:, 1].reshape(n_act, n_kv)
            b1, w1 = bi[:, None], wi[:, None]
            pool = self.pool_layer(x.permute(0, 1, 4, 2, 3).reshape(b * t, c, H, W))
            pool = pool.reshape(b, t, c, -1).transpose(2, 3)  # (b, t, P, c)
            ridx = layout.roll_index[wi][:, None, :]  # (A, 1, R)
            keys, vals = [], []
            for full, win, proj in ((k, kw, self.key), (v, vw, self.value)):
                flat = torch.cat([full.reshape(b, t, H * W, c), full.new_zeros(b, t, 1, c)], 2)
                parts = (win[b1, w1, kf], flat[bi[:, None, None], kf[:, :, None], ridx],
                         proj(pool)[b1, kf])
                (keys if proj is self.key else vals).append(torch.cat(parts, 2))
            mask = None
            if not layout.all_valid:
                kv_len = keys[0].size(2)
                mask = layout.key_valid[wi][:, None, :].expand(n_act, n_kv, kv_len)
                mask = mask.reshape(n_act, 1, 1, n_kv * kv_len)
            y = F.scaled_dot_product_attention(
                self._heads(qw[b1, w1, qf]), self._heads(keys[0]), self._heads(vals[0]),
                attn_mask=mask)
            out = out.index_put((b1.expand_as(qf), w1.expand_as(qf), qf), self._unheads(y, n_q))

        # unselected slots: own-window attention in groups of consecutive unselected frames
        unsel = ~qm
        ub, uw, ut = unsel.nonzero(as_tuple=True)  # ordered by batch, window, frame
        if ub.numel():
            rank = unsel.long().cumsum(-1)[ub, uw, ut] - 1
            pos = rank % group_size
            n_groups = -(-t // group_size)
            lin = (ub * layout.nwh * layout.nww + uw) * n_groups + rank // group_size
            uniq, gid = torch.unique_consecutive(lin, return_inverse=True)
            m = uniq.numel()
            gb = uniq // (layout.nwh * layout.nww * n_groups)
            gw = (uniq // n_groups) % (layout.nwh * layout.nww)
            frames = torch.zeros(m, group_size, dtype=torch.long, device=x.device)
            frames[gid, pos] = ut
            filled = torch.zeros(m, group_size, dtype=torch.bool, device=x.device)
            filled[gid, pos] = True
            g1, gw1 = gb[:, None], gw[:, None]
            mask = None
            ragged = not bool(filled.all())
            if ragged or layout.padded:
                mask = filled[:, :, None] & layout.own_valid[gw][:, None, :]
                mask = mask.reshape(m, 1, 1, -1)
            y = F.scaled_dot_product_attention(
                self._heads(qw[g1, gw1, frames]), self._heads(kw[g1, gw1, frames]),
                self._heads(vw[g1, gw1, frames]), attn_mask=mask)
            out = out.index_put((ub, uw, ut), self._unheads(y, group_size)[gid, pos])

        out = self._unpartition(out, layout)
        if layout.padded:
            out = out[:, :, :h, :w]
        return self.proj(out)


class TemporalSparseTransformer(nn.Module):
    """One BSST layer: pre-norm sparse window attention and fusion feed-forward, both residual.

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    Args:
        dim (int): Token dimension.
        num_heads (int): Attention heads.
        window_size (int | tuple[int]): Window size. Default: (8, 8).
        pool_size (int | tuple[int]): Pooling size of the global tokens. Default: (4, 4).
        t2t_params (dict, optional): Soft-split parameters for the feed-forward; None means
            BSSTNet's. Default: None.
        ffn_hidden (int): Hidden dimension of the feed-forward. Default: 1000.
    """

    def __init__(self, dim, num_heads, window_size=(8, 8), pool_size=(4, 4), t2t_params=None,
                 ffn_hidden=1000):
        super().__init__()
        self.window_size = _pair(window_size)
        self.attention = SparseWindowAttention(dim, num_heads, window_size, pool_size)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FusionFeedForward(dim, ffn_hidden, t2t_params=t2t_params)

    def forward(self, x, fold_size, qmask, kvmask, group_size=None):
        """Forward.

        Args:
            x (Tensor): Tokens, (b, t, fh, fw, c).
            fold_size (tuple[int]): Feature size (h, w) the tokens were split from.
            qmask (Tensor): Bool, (b, t, nwh, nww), selected query slots.
            kvmask (Tensor): Bool, (b, t, nwh, nww), selected key/value slots.
            group_size (int, optional): See SparseWindowAttention. Default: None.

        Returns:
            Tensor: (b, t, fh, fw, c).
        """
        b, t, h, w, c = x.shape
        x = x + self.attention(self.norm1(x), qmask, kvmask, group_size)
        y = self.mlp(self.norm2(x).reshape(b, t * h * w, c), fold_size)
        return x + y.reshape(b, t, h, w, c)


class TemporalSparseTransformerBlock(nn.Module):
    """A stack of ``depth`` TemporalSparseTransformer layers, each with its own token masks.

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    State-dict keys ``transformer.{i}.…`` match the official ``transsqattn.transformer.{i}.…``.

    Args:
        dim (int): Token dimension.
        num_heads (int): Attention heads.
        window_size (int | tuple[int]): Window size.
        pool_size (int | tuple[int]): Pooling size of the global tokens.
        depth (int): Number of layers.
        t2t_params (dict, optional): Soft-split parameters; None means BSSTNet's.
            Default: None.
        ffn_hidden (int): Hidden dimension of the feed-forward. Default: 1000.
    """

    def __init__(self, dim, num_heads, window_size, pool_size, depth, t2t_params=None,
                 ffn_hidden=1000):
        super().__init__()
        self.depth = depth
        self.transformer = nn.Sequential(*[
            TemporalSparseTransformer(dim, num_heads, window_size, pool_size, t2t_params,
                                      ffn_hidden) for _ in range(depth)
        ])

    def init_weights(self, gain=0.01):
        """Official init: Conv/Linear weights ~ N(0, gain), biases 0 (this also overwrites the
        averaging init of ``pool_layer``, as the official code does)."""
        normal_init_(self, gain)

    def forward(self, x, fold_size, qmasks, kvmasks, group_size=None):
        """Forward.

        Args:
            x (Tensor): Tokens, (b, t, fh, fw, c).
            fold_size (tuple[int]): Feature size (h, w) the tokens were split from.
            qmasks (list[Tensor]): ``depth`` bool masks (b, t, nwh, nww) of query slots.
            kvmasks (list[Tensor]): ``depth`` bool masks (b, t, nwh, nww) of key/value slots.
            group_size (int, optional): See SparseWindowAttention. Default: None.

        Returns:
            Tensor: (b, t, fh, fw, c).
        """
        if len(qmasks) != self.depth or len(kvmasks) != self.depth:
            raise ValueError(f'need {self.depth} qmasks and kvmasks, got {len(qmasks)} and '
                             f'{len(kvmasks)}')
        for layer, qmask, kvmask in zip(self.transformer, qmasks, kvmasks):
            x = layer(x, fold_size, qmask, kvmask, group_size)
        return x


def window_blur_scores(blur_map, token_kernel=5, token_stride=2, token_padding=2,
                       window_size=(8, 8)):
    """Blur score of every (frame, attention window).

    Official: ``AvgPool2d(5, 2, 2)`` (to the token grid, zero padding counted) then
    ``AvgPool2d(8, 8)``. Partial windows at the bottom/right of grids that are not window
    multiples get the average of their valid tokens (the official pooling drops them).

    Args:
        blur_map (Tensor): Blur map at feature resolution, (n, t, 1, h, w).
        token_kernel (int | tuple[int]): Soft-split kernel. Default: 5.
        token_stride (int | tuple[int]): Soft-split stride. Default: 2.
        token_padding (int | tuple[int]): Soft-split padding. Default: 2.
        window_size (int | tuple[int]): Attention window. Default: (8, 8).

    Returns:
        Tensor: (n, t, nwh, nww), nwh = ceil(fh / wh) for a token grid (fh, fw).
    """
    check_tensor(blur_map, 'blur_map', 5, '(n, t, 1, h, w)', (None, None, 1, None, None))
    n, t, _, h, w = blur_map.shape
    wh, ww = _pair(window_size)
    tok = F.avg_pool2d(blur_map.reshape(n * t, 1, h, w), _pair(token_kernel),
                       _pair(token_stride), _pair(token_padding))
    gh, gw = tok.shape[-2:]
    nwh, nww = math.ceil(gh / wh), math.ceil(gw / ww)
    pad = (0, nww * ww - gw, 0, nwh * wh - gh)
    sums = F.avg_pool2d(F.pad(tok, pad), (wh, ww), divisor_override=1)
    counts = F.avg_pool2d(F.pad(torch.ones_like(tok[:1]), pad), (wh, ww), divisor_override=1)
    return (sums / counts).reshape(n, t, nwh, nww)


def _num_selected(num_selected, size):
    if num_selected == 'half':
        return size // 2
    if num_selected == 'all':
        return size
    if isinstance(num_selected, bool) or not isinstance(num_selected, int) or num_selected < 0:
        raise ValueError(f"num_selected must be 'half', 'all' or an int >= 0, got "
                         f'{num_selected!r}')
    return min(num_selected, size)


def _mark(mask, index):
    """``mask`` with True at ``index`` along dim 1 (a tensor source, not a bool scalar, so
    that the JIT tracer used by the FLOP counter can record it)."""
    return mask.scatter(1, index, torch.ones_like(index, dtype=torch.bool))


def select_sparse_tokens(scores, depth, threshold=0.3, num_selected='half', alternate=True,
                         official_aliasing=False):
    """BSST's blur-aware token selection: query and key/value (frame, window) slots per layer.

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    Layer ``l`` uses a temporal subset of frames: even frames for l = 0, 2, ..., odd frames for
    l = 1, 3, ... (``alternate``, official ``T_ind``), otherwise all frames. A window is active
    if any frame of the subset has a score above ``threshold`` (spatial sparsity). In each
    active window the K blurriest frames of the subset (highest score) are the queries and the K
    sharpest (highest 1 - score) the keys/values (temporal sparsity).

    ``official_aliasing=True`` reproduces the official code exactly: its score tensor is aliased
    (``blur_map_st_win_q_soft = blur_map_st_win``) and zeroed in place for the other subset every
    layer, cumulatively, so from the second layer on all scores are 0 and queries / KV frames
    come from ``argsort(descending=True)`` over ties (query frames may even lie outside the
    subset); the spatial masks are unaffected. Needed to reproduce published numbers with the
    official weights; the default selects correctly in every layer.

    Args:
        scores (Tensor): Window blur scores, (n, t, nwh, nww) (see ``window_blur_scores``).
        depth (int): Number of layers.
        threshold (float, optional): Spatial threshold θ; None makes every window active.
            Default: 0.3.
        num_selected (str | int): K: 'half' (len(subset) // 2, official, = t / 4), 'all'
            (len(subset)) or an int (clipped to the subset size). Default: 'half'.
        alternate (bool): Alternate even/odd frame subsets over the layers. Default: True.
        official_aliasing (bool): Reproduce the official in-place zeroing. Default: False.

    Returns:
        tuple[list[Tensor]]: ``qmasks`` and ``kvmasks``, ``depth`` bool tensors each,
        (n, t, nwh, nww).
    """
    check_tensor(scores, 'scores', 4, '(n, t, nwh, nww)')
    n, t, nwh, nww = scores.shape
    scores = scores.detach()
    frames = torch.arange(t, device=scores.device)
    subsets = [frames[i % 2::2] if alternate else frames for i in range(depth)]
    hard = (torch.ones_like(scores, dtype=torch.bool) if threshold is None else
            scores > threshold)
    qmasks, kvmasks = [], []
    if official_aliasing:
        shared = scores.clone().unsqueeze(2)  # (n, t, 1, nwh, nww) as the official tensor
        for layer, subset in enumerate(subsets):
            zero = frames[(layer + 1) % 2::2] if alternate else frames[:0]
            k = _num_selected(num_selected, len(subset))
            active = hard[:, subset].any(1, keepdim=True)
            shared[:, zero] = shared[:, zero] * 0.
            q_idx = torch.argsort(shared, 1, True)
            kv_soft = 1 - shared
            kv_soft[:, zero] = kv_soft[:, zero] * 0.
            kv_idx = torch.argsort(kv_soft, 1, True)
            empty = torch.zeros_like(shared, dtype=torch.bool)
            qmasks.append(_mark(empty, q_idx[:, :k]).squeeze(2) & active)
            kvmasks.append(_mark(empty, kv_idx[:, :k]).squeeze(2) & active)
        return qmasks, kvmasks
    for subset in subsets:
        k = _num_selected(num_selected, len(subset))
        qmask = torch.zeros_like(scores, dtype=torch.bool)
        kvmask = torch.zeros_like(scores, dtype=torch.bool)
        if k > 0:
            active = hard[:, subset].any(1, keepdim=True)
            sub = scores[:, subset]
            q_idx = subset[sub.topk(k, dim=1).indices]
            kv_idx = subset[(1 - sub).topk(k, dim=1).indices]
            qmask = _mark(qmask, q_idx) & active
            kvmask = _mark(kvmask, kv_idx) & active
        qmasks.append(qmask)
        kvmasks.append(kvmask)
    return qmasks, kvmasks


class BlurAwareSparseTransformer(nn.Module):
    """BSST: blur-aware spatio-temporal sparse transformer over propagated features.

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    Window blur scores from the blur map select, per layer, the query and key/value
    (frame, window) slots (``select_sparse_tokens``); the features are soft-split into tokens,
    run through ``depth`` TemporalSparseTransformer layers and soft-composed back.

    Official-checkpoint conversion: ``softsplit.*`` and ``softcomp.*`` keep their names,
    ``transsqattn.*`` becomes ``transformer.*``; drop ``*.attention.valid_ind_rolled`` and
    ``*.attention.mask_padding`` (size-dependent, computed here for the actual grid).

    Args:
        in_channels (int): Feature channels. Default: 192.
        embed_dim (int): Token dimension. Default: 512.
        num_heads (int): Attention heads. Default: 4.
        window_size (int | tuple[int]): Attention window, in tokens. Default: (8, 8).
        pool_size (int | tuple[int]): Pooling of the global tokens. Default: (4, 4).
        depth (int): Transformer layers. Default: 4.
        kernel_size (int | tuple[int]): Soft-split kernel. Default: (5, 5).
        stride (int | tuple[int]): Soft-split stride; h and w must be divisible by it.
            Default: (2, 2).
        padding (int | tuple[int]): Soft-split padding. Default: (2, 2).
        ffn_hidden (int): Feed-forward hidden dimension (multiple of kh * kw). Default: 1000.
        threshold (float, optional): Spatial sparsity threshold θ; None: all windows active.
            Default: 0.3.
        num_selected (str | int): Frames per window K: 'half', 'all' or an int.
            Default: 'half'.
        alternate (bool): Even/odd frame subsets in alternate layers. Default: True.
        group_size (int, optional): Unselected frames attended jointly; None means
            max(1, t // 4). Default: None.
        official_aliasing (bool): Reproduce the official selection bug (layers 2-4 select by
            argsort over ties). Default: False.
        sparse (bool): False gives the dense baseline (paper Table 4): every window and frame
            selected (θ, K and alternation ignored), i.e. full spatio-temporal window
            attention. Default: True.
    """

    def __init__(self, in_channels=192, embed_dim=512, num_heads=4, window_size=(8, 8),
                 pool_size=(4, 4), depth=4, kernel_size=(5, 5), stride=(2, 2), padding=(2, 2),
                 ffn_hidden=1000, threshold=0.3, num_selected='half', alternate=True,
                 group_size=None, official_aliasing=False, sparse=True):
        super().__init__()
        self.in_channels = in_channels
        self.window_size = _pair(window_size)
        self.depth = depth
        self.kernel_size, self.stride, self.padding = (_pair(kernel_size), _pair(stride),
                                                       _pair(padding))
        self.threshold = threshold
        self.num_selected = num_selected
        _num_selected(num_selected, 1)  # validate early
        self.alternate = alternate
        self.group_size = group_size
        self.official_aliasing = official_aliasing
        self.sparse = sparse
        t2t_params = dict(kernel_size=self.kernel_size, stride=self.stride,
                          padding=self.padding)
        self.softsplit = SoftSplit(in_channels, embed_dim, kernel_size, stride, padding)
        self.transformer = TemporalSparseTransformerBlock(embed_dim, num_heads, window_size,
                                                          pool_size, depth, t2t_params,
                                                          ffn_hidden)
        self.softcomp = SoftComp(in_channels, embed_dim, kernel_size, stride, padding)
        self.init_weights()

    def init_weights(self, gain=0.01):
        """Official init (``init_weights`` with gain 0.01 applied by BSST to softsplit,
        softcomp and the transformer): Conv/Linear weights ~ N(0, gain), biases 0, including
        ``pool_layer`` (whose 1/(ph*pw) init the official code overwrites too); LayerNorms keep
        weight 1, bias 0."""
        normal_init_(self, gain)

    def _check_inputs(self, feats, blur_map):
        check_video(feats, 'feats', channels=self.in_channels, min_frames=1)
        n, t, c, h, w = feats.shape
        if h % self.stride[0] or w % self.stride[1]:
            raise ValueError(f'feature size {h}x{w} must be divisible by the soft-split stride '
                             f'{self.stride}')
        if min(_grid_size((h, w), self.kernel_size, self.stride, self.padding)) < 1:
            raise ValueError(f'feature size {h}x{w} is too small for the soft-split kernel '
                             f'{self.kernel_size} with padding {self.padding}')
        if blur_map is None:
            if self.sparse:
                raise ValueError('blur_map is required when sparse=True')
        elif tuple(blur_map.shape) != (n, t, 1, h, w):
            raise ValueError(f'blur_map must have shape (n, t, 1, h, w) = {(n, t, 1, h, w)}, '
                             f'got {tuple(blur_map.shape)}')

    def forward(self, feats, blur_map):
        """Forward.

        Args:
            feats (Tensor): Features, (n, t, c, h, w).
            blur_map (Tensor): Blur map at feature resolution, (n, t, 1, h, w) (may be None
                when ``sparse=False``).

        Returns:
            Tensor: (n, t, c, h, w).
        """
        self._check_inputs(feats, blur_map)
        n, t, c, h, w = feats.shape
        if self.sparse:
            with torch.no_grad():
                scores = window_blur_scores(blur_map.detach(), self.kernel_size, self.stride,
                                            self.padding, self.window_size)
            qmasks, kvmasks = select_sparse_tokens(scores, self.depth, self.threshold,
                                                   self.num_selected, self.alternate,
                                                   self.official_aliasing)
        else:
            fh, fw = _grid_size((h, w), self.kernel_size, self.stride, self.padding)
            full = feats.new_ones(n, t, math.ceil(fh / self.window_size[0]),
                                  math.ceil(fw / self.window_size[1]), dtype=torch.bool)
            qmasks = kvmasks = [full] * self.depth
        group_size = max(1, t // 4) if self.group_size is None else self.group_size
        tokens = self.softsplit(feats.reshape(n * t, c, h, w), n)
        tokens = self.transformer(tokens, (h, w), qmasks, kvmasks, group_size)
        return self.softcomp(tokens, (h, w)).reshape(n, t, c, h, w)
