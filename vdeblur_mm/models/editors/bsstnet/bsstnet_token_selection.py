# Adapted from huicongzhang/BSSTNet (BSST_arch.py, token selection), MIT per README
"""BSST's blur-aware token selection: window blur scores from the blur map, and per layer the
query and key/value (frame, window) slots of the sparse attention.

Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).
"""
import math

import torch
import torch.nn.functional as F
from torch.nn.modules.utils import _pair

from ...layers.checks import check_tensor

__all__ = ['window_blur_scores', 'num_selected_frames', 'select_sparse_tokens']


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


def num_selected_frames(num_selected, size):
    """K of :func:`select_sparse_tokens` for a subset of ``size`` frames; validates
    ``num_selected``."""
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
            k = num_selected_frames(num_selected, len(subset))
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
        k = num_selected_frames(num_selected, len(subset))
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
