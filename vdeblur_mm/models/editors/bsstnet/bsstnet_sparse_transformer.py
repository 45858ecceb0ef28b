# Ported from sczhou/ProPainter (sparse_transformer.py) via BSSTNet, S-Lab License 1.0 (NC)
"""BSSTNet's blur-aware spatio-temporal sparse transformer (BSST): soft split / soft composition,
the transformer layers and their fusion feed-forward; the sparse window attention with rolled and
pooled keys is in ``bsstnet_sparse_attention``, the blur-driven token selection in
``bsstnet_token_selection``.

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
from torch.nn.modules.utils import _pair

from ...layers.checks import check_video
from .bsstnet_sparse_attention import SparseWindowAttention
from .bsstnet_token_selection import num_selected_frames, select_sparse_tokens, window_blur_scores

__all__ = [
    'SoftSplit', 'SoftComp', 'FusionFeedForward', 'TemporalSparseTransformer',
    'TemporalSparseTransformerBlock', 'BlurAwareSparseTransformer'
]

_DEFAULT_T2T = dict(kernel_size=(5, 5), stride=(2, 2), padding=(2, 2))


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
        # unfold + linear is a strided convolution whose kernel is the linear weight (unfold
        # orders a patch channel-major, as conv weights): the same sums without writing
        # the unfolded patches (kh * kw times the input) and their transpose
        hidden = self.embedding.out_features
        feat = F.conv2d(x, self.embedding.weight.view(hidden, -1, *self.kernel_size),
                        self.embedding.bias, self.stride, self.padding)
        return feat.permute(0, 2, 3, 1).reshape(n, bt // n, fh, fw, hidden)


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
        n, t, fh, fw, hidden = x.shape
        # linear + fold is a transposed convolution whose kernel is the linear weight: the same
        # sums without the (kh * kw times larger) patch tensor. The linear bias, summed over
        # the overlapping patches, is a fixed map: the transposed convolution of ones.
        size = tuple(output_size)
        ph, pw = (size[i] - ((g - 1) * self.stride[i] - 2 * self.padding[i] +
                             self.kernel_size[i]) for i, g in enumerate((fh, fw)))
        weight = self.embedding.weight.t().reshape(hidden, -1, *self.kernel_size)
        args = dict(stride=self.stride, padding=self.padding, output_padding=(ph, pw))
        feat = F.conv_transpose2d(x.reshape(n * t, fh, fw, hidden).permute(0, 3, 1, 2), weight,
                                  **args)
        if self.embedding.bias is not None:
            bias = self.embedding.bias.view(1, -1, *self.kernel_size)
            feat = feat + F.conv_transpose2d(x.new_ones(1, 1, fh, fw), bias, **args)
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
        b, n, dim = x.shape
        if n % n_vecs:
            raise ValueError(f'FusionFeedForward: {n} tokens are not a multiple of the '
                             f'{fh}x{fw} grid of output_size {output_size}')
        fold = dict(output_size=output_size, kernel_size=self.kernel_size, padding=self.padding,
                    stride=self.stride)
        # fc1 and fc2 as batched products on the transposed operand: fc1 writes the
        # (frames, hidden, tokens) layout fold reads and fc2 reads unfold's output as it
        # is, so neither side copies the (tokens x hidden) tensor into a transposed one
        fc1, (act, fc2) = self.fc1[0], self.fc2
        frames = x.reshape(-1, n_vecs, dim).transpose(1, 2)  # (b * t, dim, tokens), a view
        weight = fc1.weight.expand(frames.size(0), -1, -1)
        h = (torch.bmm(weight, frames) if fc1.bias is None else
             torch.baddbmm(fc1.bias.view(1, -1, 1), weight, frames))
        normalizer = F.fold(h.new_ones(1, self.kernel_shape, n_vecs), **fold)
        h = F.unfold(F.fold(h, **fold) / normalizer, self.kernel_size, padding=self.padding,
                     stride=self.stride)
        h = act(h).transpose(1, 2)  # (b * t, tokens, hidden), a view
        weight = fc2.weight.t().expand(h.size(0), -1, -1)
        y = (torch.bmm(h, weight) if fc2.bias is None else
             torch.baddbmm(fc2.bias.view(1, 1, -1), h, weight))
        return y.reshape(b, n, dim)


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
        num_selected_frames(num_selected, 1)  # validate early
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
