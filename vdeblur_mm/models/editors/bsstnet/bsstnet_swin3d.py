# Ported from JingyunLiang/RVRT (network_rvrt.py) via BSSTNet, CC BY-NC 4.0; THIRD_PARTY.md
"""BSSTNet's fusion of its five feature streams: RVRT's 3-D (shifted) window Swin transformer
blocks, the residual groups and the input convolution around them.

Paper: Recurrent Video Restoration Transformer with Guided Deformable Attention (RVRT,
NeurIPS 2022), as used by BSSTNet (CVPR 2024). Module and parameter names follow the official
``basicsr/archs/BSST_arch.py`` of huicongzhang/BSSTNet, so official weights load unchanged.
"""
from functools import lru_cache

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as checkpoint
from torch import nn

from ...layers.checks import check_tensor, check_video

__all__ = [
    'window_partition', 'window_reverse', 'get_window_size', 'compute_mask',
    'shifted_window_index', 'get_relative_position_index', 'Mlp', 'WindowAttention', 'STL',
    'STG', 'RSTB', 'RSTBWithInputConv'
]


def window_partition(x, window_size):
    """(b, d, h, w, c) -> (b * num_windows, wd * wh * ww, c); d, h, w multiples of the window.
    Windows are ordered batch-major, then d, h, w."""
    b, d, h, w, c = x.shape
    wd, wh, ww = window_size
    x = x.view(b, d // wd, wd, h // wh, wh, w // ww, ww, c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, wd * wh * ww, c)


def window_reverse(windows, window_size, b, d, h, w):
    """Inverse of :func:`window_partition`: (b * num_windows, wd, wh, ww, c) (or any view with
    those elements) -> (b, d, h, w, c)."""
    wd, wh, ww = window_size
    x = windows.view(b, d // wd, h // wh, w // ww, wd, wh, ww, -1)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, d, h, w, -1)


def get_window_size(x_size, window_size, shift_size=None):
    """Shrink the window to the input along any dim where the input is not larger, and drop
    the shift there (so t=1 uses (1, wh, ww) windows without temporal shift).

    Returns:
        tuple: ``window_size``, or ``(window_size, shift_size)`` if ``shift_size`` is given.
    """
    use_window = list(window_size)
    use_shift = list(shift_size) if shift_size is not None else None
    for i, size in enumerate(x_size):
        if size <= window_size[i]:
            use_window[i] = size
            if use_shift is not None:
                use_shift[i] = 0
    if use_shift is None:
        return tuple(use_window)
    return tuple(use_window), tuple(use_shift)


@lru_cache(maxsize=32)
def shifted_window_index(size, window_size, shift_size, device):
    """For the tokens of a (d, h, w) grid (flattened), rolled by ``-shift_size`` and then
    partitioned into windows (:func:`window_partition` order), the flat index each one comes
    from: ``window_partition(roll(x, -shift))`` is ``x.flatten(1, 3)[:, index]``."""
    with torch.inference_mode(False):
        grid = torch.arange(size[0] * size[1] * size[2], device=device).view(1, *size, 1)
        rolled = torch.roll(grid, shifts=tuple(-s for s in shift_size), dims=(1, 2, 3))
        return window_partition(rolled, window_size).reshape(-1)


@lru_cache(maxsize=32)
def compute_mask(d, h, w, window_size, shift_size, device):
    """Attention mask of shifted windows for a padded input of size (d, h, w).

    Tokens of one (cyclically shifted) window that came from different regions get -100,
    others 0 (the official value, not -inf). Cached per size, as in the official code.

    Returns:
        Tensor: (num_windows, N, N) float, N = wd * wh * ww.
    """
    with torch.inference_mode(False):
        img_mask = torch.zeros((1, d, h, w, 1), device=device)
        cnt = 0
        for ds in (slice(-window_size[0]), slice(-window_size[0], -shift_size[0]),
                   slice(-shift_size[0], None)):
            for hs in (slice(-window_size[1]), slice(-window_size[1], -shift_size[1]),
                       slice(-shift_size[1], None)):
                for ws in (slice(-window_size[2]), slice(-window_size[2], -shift_size[2]),
                           slice(-shift_size[2], None)):
                    img_mask[:, ds, hs, ws, :] = cnt
                    cnt += 1
        mask_windows = window_partition(img_mask, window_size).squeeze(-1)  # nW, N
        attn_mask = mask_windows.unsqueeze(1) - mask_windows.unsqueeze(2)
        return attn_mask.masked_fill(attn_mask != 0, -100.0).masked_fill(attn_mask == 0, 0.0)


class Mlp(nn.Module):
    """Two-layer perceptron ``fc2(act(fc1(x)))`` on the last dim.

    Args:
        in_features (int): Input channels.
        hidden_features (int, optional): Hidden channels; None means ``in_features``.
            Default: None.
        out_features (int, optional): Output channels; None means ``in_features``.
            Default: None.
        act_layer (type): Activation class. Default: nn.GELU.

    The official module also takes a ``drop`` rate, which it does not use (no dropout).
    """

    def __init__(self, in_features, hidden_features=None, out_features=None, act_layer=nn.GELU):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        """(..., in_features) -> (..., out_features)."""
        return self.fc2(self.act(self.fc1(x)))


def get_relative_position_index(window_size):
    """Pair-wise index into the (2wd-1)(2wh-1)(2ww-1) relative-position table, (N, N) int64,
    tokens of the window in (d, h, w) order."""
    coords = torch.stack(torch.meshgrid(*[torch.arange(s) for s in window_size], indexing='ij'))
    coords = coords.flatten(1)  # 3, N
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # N, N, 3
    rel = rel + torch.tensor([s - 1 for s in window_size])
    wd, wh, ww = window_size
    return (rel * torch.tensor([(2 * wh - 1) * (2 * ww - 1), 2 * ww - 1, 1])).sum(-1)


class WindowAttention(nn.Module):
    """Window multi-head self-attention with a learned 3-D relative position bias.

    Paper: Recurrent Video Restoration Transformer with Guided Deformable Attention (RVRT,
    NeurIPS 2022), as used by BSSTNet's fusion.

    Computes ``softmax(q k^T * scale + bias + mask) v`` with
    :func:`torch.nn.functional.scaled_dot_product_attention`, the bias (and shift mask) given
    as an additive float mask. As in the official code the bias table starts at zero and the
    ``relative_position_index`` buffer is persistent (it is in the official checkpoints), and a
    window smaller than ``window_size`` (N tokens) uses ``index[:N, :N]``.

    Args:
        dim (int): Channels C.
        window_size (tuple[int]): Window (wd, wh, ww).
        num_heads (int): Heads.
        qkv_bias (bool): Bias in the q/k/v projection. Default: False.
        qk_scale (float, optional): Attention scale; None means ``head_dim ** -0.5``.
            Default: None.
    """

    def __init__(self, dim, window_size, num_heads, qkv_bias=False, qk_scale=None):
        super().__init__()
        self.window_size = tuple(window_size)
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = qk_scale or self.head_dim ** -0.5
        wd, wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wd - 1) * (2 * wh - 1) * (2 * ww - 1), num_heads))
        self.register_buffer('relative_position_index',
                             get_relative_position_index(self.window_size))
        self.qkv_self = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def attention_bias(self, n, mask=None):
        """Additive attention mask: (1, heads, N, N) without ``mask``, (nW, heads, N, N) with
        ``mask`` of shape (nW, N, N)."""
        index = self.relative_position_index[:n, :n].reshape(-1)
        # contiguous (it is small): a sum with the (nW, N, N) mask is then laid out as
        # (nW, heads, N, N), and the attention's reshape of it is a view, not a copy
        bias = self.relative_position_bias_table[index].reshape(n, n, -1).permute(2, 0, 1)
        bias = bias.contiguous().unsqueeze(0)
        if mask is not None:
            bias = bias + mask[:, :n, :n].unsqueeze(1).to(bias.dtype)
        return bias

    def forward(self, x, mask=None):
        """Attend within each window.

        Args:
            x (Tensor): (b * nW, N, C) window tokens, windows batch-major.
            mask (Tensor, optional): (nW, N, N) additive shift mask (0 / -100). Default: None.

        Returns:
            Tensor: (b * nW, N, C).
        """
        check_tensor(x, type(self).__name__, 3, '(num_windows * b, N, C)')
        bn, n, c = x.shape
        qkv = self.qkv_self(x).reshape(bn, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (b * nW, heads, N, hd)
        bias = self.attention_bias(n, mask).to(q.dtype)
        if mask is not None:
            nw = mask.shape[0]
            if bn % nw:
                raise ValueError(f'{bn} windows are not a multiple of the mask\'s {nw}')
            # (b, nW * heads, N, hd) so that the (nW, heads) mask broadcasts over b only
            q, k, v = (t.reshape(bn // nw, nw * self.num_heads, n, -1) for t in (q, k, v))
            bias = bias.reshape(1, nw * self.num_heads, n, n)
        kwargs = {} if self.scale == q.size(-1) ** -0.5 else dict(scale=self.scale)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, **kwargs)
        out = out.reshape(bn, self.num_heads, n, -1).transpose(1, 2).reshape(bn, n, c)
        return self.proj(out)


class STL(nn.Module):
    """Swin transformer layer on video tokens: (shifted) 3-D window attention and an MLP, each
    pre-normed and residual.

    Paper: Recurrent Video Restoration Transformer with Guided Deformable Attention (RVRT,
    NeurIPS 2022), as used by BSSTNet's fusion.

    The input is zero-padded (after ``norm1``) to window multiples in d, h and w; the padded
    tokens take part in the attention as in the official code, and are cropped afterwards. The
    official ``input_resolution`` argument, unused, is gone (also from :class:`STG` and
    :class:`RSTB`).

    Args:
        dim (int): Channels C.
        num_heads (int): Heads.
        window_size (tuple[int]): Window (wd, wh, ww). Default: (2, 8, 8).
        shift_size (tuple[int]): Cyclic shift, each in [0, window). Default: (0, 0, 0).
        mlp_ratio (float): MLP hidden channels over C. Default: 2.
        qkv_bias (bool): Bias in the q/k/v projection. Default: True.
        qk_scale (float, optional): Attention scale; None means ``head_dim ** -0.5``.
            Default: None.
        act_layer (type): MLP activation. Default: nn.GELU.
        norm_layer (type): Normalisation. Default: nn.LayerNorm.
        use_checkpoint_attn (bool): Activation checkpointing of the attention part.
            Default: False.
        use_checkpoint_ffn (bool): Activation checkpointing of the MLP part. Default: False.
    """

    def __init__(self, dim, num_heads, window_size=(2, 8, 8), shift_size=(0, 0, 0), mlp_ratio=2.,
                 qkv_bias=True, qk_scale=None, act_layer=nn.GELU, norm_layer=nn.LayerNorm,
                 use_checkpoint_attn=False, use_checkpoint_ffn=False):
        super().__init__()
        self.num_heads = num_heads
        self.window_size = tuple(window_size)
        self.shift_size = tuple(shift_size)
        self.use_checkpoint_attn = use_checkpoint_attn
        self.use_checkpoint_ffn = use_checkpoint_ffn
        if not all(0 <= s < w for s, w in zip(self.shift_size, self.window_size)):
            raise ValueError(f'shift_size {self.shift_size} must be in [0, window_size '
                             f'{self.window_size})')
        self.norm1 = norm_layer(dim)
        self.attn = WindowAttention(dim, window_size=self.window_size, num_heads=num_heads,
                                    qkv_bias=qkv_bias, qk_scale=qk_scale)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio), act_layer=act_layer)

    def forward_part1(self, x, mask_matrix):
        """Norm, pad, shift, window attention, unshift, crop: (b, d, h, w, C) -> same."""
        b, d, h, w, c = x.shape
        window_size, shift_size = get_window_size((d, h, w), self.window_size, self.shift_size)
        x = self.norm1(x)
        pad_d = (window_size[0] - d % window_size[0]) % window_size[0]
        pad_h = (window_size[1] - h % window_size[1]) % window_size[1]
        pad_w = (window_size[2] - w % window_size[2]) % window_size[2]
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h, 0, pad_d))
        _, dp, hp, wp, _ = x.shape
        if not any(s > 0 for s in shift_size):
            windows = self.attn(window_partition(x, window_size))
            x = window_reverse(windows, window_size, b, dp, hp, wp)
            return x[:, :d, :h, :w, :]
        # roll by -shift then partition (and reverse then roll back) as one gather (scatter)
        # of the tokens: one copy each way instead of a copy per rolled dim and the partition
        index = shifted_window_index((dp, hp, wp), window_size, shift_size, x.device)
        n_tok = window_size[0] * window_size[1] * window_size[2]
        windows = x.reshape(b, -1, c).index_select(1, index).view(-1, n_tok, c)
        windows = self.attn(windows, mask=mask_matrix)
        out = torch.empty_like(x).view(b, -1, c)
        out.index_copy_(1, index, windows.view(b, -1, c))
        return out.view(b, dp, hp, wp, c)[:, :d, :h, :w, :]

    def forward_part2(self, x):
        """``mlp(norm2(x))``: (b, d, h, w, C) -> same."""
        return self.mlp(self.norm2(x))

    def forward(self, x, mask_matrix):
        """Apply the layer.

        Args:
            x (Tensor): (b, d, h, w, C).
            mask_matrix (Tensor): (nW, N, N) shift mask from :func:`compute_mask` for the padded
                size (used only if this layer shifts).

        Returns:
            Tensor: (b, d, h, w, C).
        """
        check_tensor(x, type(self).__name__, 5, '(b, d, h, w, c)')
        if self.use_checkpoint_attn and torch.is_grad_enabled():
            x = x + checkpoint.checkpoint(self.forward_part1, x, mask_matrix,
                                          use_reentrant=False)
        else:
            x = x + self.forward_part1(x, mask_matrix)
        if self.use_checkpoint_ffn and torch.is_grad_enabled():
            x = x + checkpoint.checkpoint(self.forward_part2, x, use_reentrant=False)
        else:
            x = x + self.forward_part2(x)
        return x


class STG(nn.Module):
    """Swin transformer group: ``depth`` :class:`STL` layers, every second one shifted.

    Paper: Recurrent Video Restoration Transformer with Guided Deformable Attention (RVRT,
    NeurIPS 2022), as used by BSSTNet's fusion.

    Args:
        dim (int): Channels C.
        depth (int): Layers.
        num_heads (int): Heads.
        window_size (tuple[int]): Window (wd, wh, ww). Default: (2, 8, 8).
        shift_size (tuple[int], optional): Shift of the odd layers; None means half the window.
            Default: None.
        mlp_ratio (float): MLP hidden channels over C. Default: 2.
        qkv_bias (bool): Bias in the q/k/v projection. Default: False.
        qk_scale (float, optional): Attention scale; None means ``head_dim ** -0.5``.
            Default: None.
        norm_layer (type): Normalisation. Default: nn.LayerNorm.
        use_checkpoint_attn (bool): Checkpoint the attention parts. Default: False.
        use_checkpoint_ffn (bool): Checkpoint the MLP parts. Default: False.
    """

    def __init__(self, dim, depth, num_heads, window_size=(2, 8, 8), shift_size=None,
                 mlp_ratio=2., qkv_bias=False, qk_scale=None, norm_layer=nn.LayerNorm,
                 use_checkpoint_attn=False, use_checkpoint_ffn=False):
        super().__init__()
        self.window_size = tuple(window_size)
        self.shift_size = (tuple(s // 2 for s in self.window_size)
                           if shift_size is None else tuple(shift_size))
        self.blocks = nn.ModuleList([
            STL(dim=dim, num_heads=num_heads, window_size=self.window_size,
                shift_size=(0, 0, 0) if i % 2 == 0 else self.shift_size, mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias, qk_scale=qk_scale, norm_layer=norm_layer,
                use_checkpoint_attn=use_checkpoint_attn, use_checkpoint_ffn=use_checkpoint_ffn)
            for i in range(depth)
        ])

    def forward(self, x):
        """(b, C, d, h, w) -> (b, C, d, h, w)."""
        check_tensor(x, type(self).__name__, 5, '(b, c, d, h, w)')
        return self.forward_channels_last(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)

    def forward_channels_last(self, x):
        """:meth:`forward` of channels-last tokens: (b, d, h, w, C) -> (b, d, h, w, C)."""
        _, d, h, w, _ = x.shape
        window_size, shift_size = get_window_size((d, h, w), self.window_size, self.shift_size)
        padded = [-(-s // ws) * ws for s, ws in zip((d, h, w), window_size)]
        attn_mask = compute_mask(*padded, window_size, shift_size, x.device)
        for blk in self.blocks:
            x = blk(x, attn_mask)
        return x


class RSTB(nn.Module):
    """Residual Swin transformer block: an :class:`STG` followed by a linear layer, plus the
    input.

    Paper: Recurrent Video Restoration Transformer with Guided Deformable Attention (RVRT,
    NeurIPS 2022), as used by BSSTNet's fusion.

    Args:
        dim (int): Channels C.
        **kwargs: The other arguments of :class:`STG` (``depth``, ``num_heads`` required).
    """

    def __init__(self, dim, **kwargs):
        super().__init__()
        self.residual_group = STG(dim=dim, **kwargs)
        self.linear = nn.Linear(dim, dim)

    def forward(self, x):
        """(b, C, d, h, w) -> (b, C, d, h, w)."""
        check_tensor(x, type(self).__name__, 5, '(b, c, d, h, w)')
        return self.forward_channels_last(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)

    def forward_channels_last(self, x):
        """:meth:`forward` of channels-last tokens: (b, d, h, w, C) -> (b, d, h, w, C)."""
        return x + self.linear(self.residual_group.forward_channels_last(x))


class _Permute(nn.Module):
    """A parameter-free layout change; stands where the official code has einops
    ``Rearrange`` layers, so the ``main.<i>`` indices of the other layers are the same."""

    def __init__(self, *dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)

    def extra_repr(self):
        return f'dims={self.dims}'


class RSTBWithInputConv(nn.Module):
    """Grouped 3-D input conv, LayerNorm, ``num_blocks`` :class:`RSTB`, LayerNorm.

    Paper: Recurrent Video Restoration Transformer with Guided Deformable Attention (RVRT,
    NeurIPS 2022); BSSTNet (CVPR 2024) fuses its propagated features with it (``in_channels =
    5 * 192``, ``groups=3``, ``dim=192``, ``depth=2``, ``num_heads=6``, ``window (2, 8, 8)``,
    ``mlp_ratio=2``, ``qkv_bias=True``).

    Submodules are ``main.1`` (Conv3d), ``main.3`` (LayerNorm), ``main.5.<i>`` (RSTB),
    ``main.7`` (LayerNorm), as in the official code (``main.0/2/4/6/8`` are layout changes).

    Args:
        in_channels (int): Input channels. Default: 3.
        kernel_size (tuple[int]): Conv3d kernel (padded to keep the size). Default: (1, 3, 3).
        stride (int): Conv3d stride. Default: 1.
        groups (int): Conv3d groups. Default: 1.
        num_blocks (int): RSTBs. Default: 2.
        **kwargs: :class:`RSTB` / :class:`STG` arguments; ``dim`` is required.
            ``use_checkpoint_attn`` / ``use_checkpoint_ffn`` may be a bool or, as in the
            official configs, a one-element list.
    """

    def __init__(self, in_channels=3, kernel_size=(1, 3, 3), stride=1, groups=1, num_blocks=2,
                 **kwargs):
        super().__init__()
        dim = kwargs['dim']
        self.in_channels = in_channels
        for key in ('use_checkpoint_attn', 'use_checkpoint_ffn'):
            value = kwargs.get(key, False)
            kwargs[key] = bool(value[0] if isinstance(value, (list, tuple)) else value)
        self.main = nn.Sequential(
            _Permute(0, 2, 1, 3, 4),  # n t c h w -> n c t h w
            nn.Conv3d(in_channels, dim, kernel_size=kernel_size, stride=stride,
                      padding=tuple(k // 2 for k in kernel_size), groups=groups),
            _Permute(0, 2, 3, 4, 1),  # n c t h w -> n t h w c
            nn.LayerNorm(dim),
            _Permute(0, 4, 1, 2, 3),  # n t h w c -> n c t h w
            nn.Sequential(*[RSTB(**kwargs) for _ in range(num_blocks)]),
            _Permute(0, 2, 3, 4, 1),  # n c t h w -> n t h w c
            nn.LayerNorm(dim),
            _Permute(0, 1, 4, 2, 3),  # n t h w c -> n t c h w
        )

    def forward(self, x):
        """Fuse.

        Args:
            x (Tensor): (n, t, in_channels, h, w); any t >= 1 and h, w (windows shrink to
                small inputs, larger ones are padded to window multiples).

        Returns:
            Tensor: (n, t, dim, h, w) (with stride 1).
        """
        check_video(x, type(self).__name__, channels=self.in_channels)
        # main's layers, with the layout changes between them left out where they cancel:
        # the residual blocks stay channels last (b, t, h, w, C) from norm to norm, and an
        # input conv that does not mix frames is a 2-D conv of the frames (no transpose of
        # the wide input)
        conv, norm_in, blocks, norm_out = self.main[1], self.main[3], self.main[5], self.main[7]
        if conv.kernel_size[0] == 1 and conv.stride[0] == 1 and conv.padding[0] == 0:
            n, t = x.shape[:2]
            y = F.conv2d(x.flatten(0, 1), conv.weight.squeeze(2), conv.bias, conv.stride[1:],
                         conv.padding[1:], conv.dilation[1:], conv.groups)
            y = y.view(n, t, *y.shape[1:]).permute(0, 1, 3, 4, 2)
        else:
            y = conv(x.permute(0, 2, 1, 3, 4)).permute(0, 2, 3, 4, 1)
        y = norm_in(y)
        for block in blocks:
            y = block.forward_channels_last(y)
        return norm_out(y).permute(0, 1, 4, 2, 3)
