# Ported from sczhou/ProPainter (sparse_transformer.py) via BSSTNet, S-Lab License 1.0 (NC)
"""BSST's sparse window attention: selected (frame, window) slots attend jointly to the keys of
their window's selected frames (own, rolled neighbour and pooled global tokens), the other slots
to their own window in small groups of frames.

Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024). Parameter
names follow the official ``basicsr/archs/propainter/sparse_transformer.py``; see
``bsstnet_sparse_transformer`` for the differences from the official code.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from ...layers.checks import check_tensor

__all__ = ['SparseWindowAttention']


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
        if layout.padded:
            x = F.pad(x, (0, 0, 0, layout.W - w, 0, layout.H - h))
        q, k, v = self._project(x, self.query, self.key, self.value)
        qw, kw, vw = (self._partition(a, layout) for a in (q, k, v))  # (b, nW, t, N, c)
        out = torch.zeros_like(qw)

        # selected slots: joint spatio-temporal attention per active window
        active = self._active_windows(qm, kvm)
        if active is not None:
            bi, wi, qf, kf = active
            keys, values, mask = self._sparse_keys_values(x, k, v, kw, vw, bi, wi, kf, layout)
            b1, w1 = bi[:, None], wi[:, None]
            y = self._attend(qw[b1, w1, qf], keys, values, mask)
            out = out.index_put((b1.expand_as(qf), w1.expand_as(qf), qf), y)

        # unselected slots: own-window attention in groups of consecutive unselected frames
        groups = self._unselected_groups(qm, group_size, layout, x.device)
        if groups is not None:
            (ub, uw, ut), (gb, gw, frames), (gid, pos), mask = groups
            g1, gw1 = gb[:, None], gw[:, None]
            y = self._attend(qw[g1, gw1, frames], kw[g1, gw1, frames], vw[g1, gw1, frames], mask)
            out = out.index_put((ub, uw, ut), y[gid, pos])

        out = self._unpartition(out, layout)
        if layout.padded:
            out = out[:, :, :h, :w]
        return self.proj(out)

    # ----------------------------------------------------------------------------------------
    # the steps of forward
    @staticmethod
    def _project(x, *linears):
        """``linear(x)`` for each of ``linears`` as one matrix product (x read once)."""
        weight = torch.cat([m.weight for m in linears])
        bias = None if linears[0].bias is None else torch.cat([m.bias for m in linears])
        return F.linear(x, weight, bias).chunk(len(linears), dim=-1)

    @staticmethod
    def _active_windows(qm, kvm):
        """Token selection of the sparse branch: the windows with selected query frames.

        Args:
            qm, kvm (Tensor): Bool query / key-value selections, (b, nW, t).

        Returns:
            tuple[Tensor] | None: Batch and window indices (A,) of the A active windows, their
            selected query frames (A, Kq) and KV frames (A, Kkv); None without active windows.
        """
        q_count = qm.sum(-1)  # (b, nW)
        bi, wi = (q_count > 0).nonzero(as_tuple=True)
        if not bi.numel():
            return None
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
        return bi, wi, qf, kf

    def _sparse_keys_values(self, x, k, v, kw, vw, bi, wi, kf, layout):
        """Token gathering of the sparse branch: for every active window, each selected KV
        frame's own window tokens, rolled neighbour tokens and pooled global tokens.

        Args:
            x (Tensor): Padded tokens (b, t, H, W, c), the input of the pooling.
            k, v (Tensor): Keys and values, (b, t, H, W, c).
            kw, vw (Tensor): The same partitioned into windows, (b, nW, t, N, c).
            bi, wi, kf (Tensor): Active windows and their KV frames (see ``_active_windows``).
            layout (_Layout): Index tables of the grid.

        Returns:
            tuple: Keys and values (A, Kkv, N + R + P, c), and the bool key
            mask (A, 1, 1, Kkv * (N + R + P)) (None when every key is valid).
        """
        b, t, H, W, c = x.shape
        b1, w1 = bi[:, None], wi[:, None]
        pool = self.pool_layer(x.permute(0, 1, 4, 2, 3).reshape(b * t, c, H, W))
        pool = pool.reshape(b, t, c, -1).transpose(2, 3)  # (b, t, P, c)
        ridx = layout.roll_index[wi][:, None, :]  # (A, 1, R)

        def gather(full, windows, pooled):
            # index H * W of ``flat`` is the zero token that rolled positions outside the grid read
            flat = torch.cat([full.reshape(b, t, H * W, c), full.new_zeros(b, t, 1, c)], 2)
            return torch.cat((windows[b1, w1, kf], flat[bi[:, None, None], kf[:, :, None], ridx],
                              pooled[b1, kf]), 2)

        pool_k, pool_v = self._project(pool, self.key, self.value)
        keys = gather(k, kw, pool_k)
        values = gather(v, vw, pool_v)
        mask = None
        if not layout.all_valid:
            n_act, n_kv = kf.shape
            kv_len = keys.size(2)
            mask = layout.key_valid[wi][:, None, :].expand(n_act, n_kv, kv_len)
            mask = mask.reshape(n_act, 1, 1, n_kv * kv_len)
        return keys, values, mask

    @staticmethod
    def _unselected_groups(qm, group_size, layout, device):
        """Grouping of the dense branch: every unselected (batch, window, frame) slot joins the
        group of ``group_size`` consecutive unselected frames of its window.

        Returns:
            tuple | None: ``(ub, uw, ut)``, the unselected slots (U,) ordered by batch, window,
            frame; ``(gb, gw, frames)``, the batch (M,), window (M,) and frames
            (M, group_size) of the M groups (unfilled places hold frame 0); ``(gid, pos)``,
            each slot's group and place in it (U,); and the bool key mask
            (M, 1, 1, group_size * N) (None if every group is full and the grid unpadded).
            None without unselected slots.
        """
        unsel = ~qm
        ub, uw, ut = unsel.nonzero(as_tuple=True)  # ordered by batch, window, frame
        if not ub.numel():
            return None
        t = qm.size(-1)
        n_win = layout.nwh * layout.nww
        rank = unsel.long().cumsum(-1)[ub, uw, ut] - 1
        pos = rank % group_size
        n_groups = -(-t // group_size)
        lin = (ub * n_win + uw) * n_groups + rank // group_size
        uniq, gid = torch.unique_consecutive(lin, return_inverse=True)
        m = uniq.numel()
        gb = uniq // (n_win * n_groups)
        gw = (uniq // n_groups) % n_win
        frames = torch.zeros(m, group_size, dtype=torch.long, device=device)
        frames[gid, pos] = ut
        filled = torch.zeros(m, group_size, dtype=torch.bool, device=device)
        filled[gid, pos] = True
        mask = None
        if not bool(filled.all()) or layout.padded:
            mask = filled[:, :, None] & layout.own_valid[gw][:, None, :]
            mask = mask.reshape(m, 1, 1, -1)
        return (ub, uw, ut), (gb, gw, frames), (gid, pos), mask

    def _attend(self, q, k, v, mask=None):
        """Multi-head attention of groups of frames' tokens: q (m, kq, l, c), k and v
        (m, kk, lk, c), bool ``mask`` (m, 1, 1, kk * lk) or None -> (m, kq, l, c)."""
        y = F.scaled_dot_product_attention(self._heads(q), self._heads(k), self._heads(v),
                                           attn_mask=mask)
        return self._unheads(y, q.size(1))
