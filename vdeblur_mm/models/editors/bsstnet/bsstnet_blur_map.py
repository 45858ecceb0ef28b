# Adapted from huicongzhang/BSSTNet (BSST_arch.py, get_blur_map), MIT per README; THIRD_PARTY.md
"""Optical-flow blur maps (BSSTNet: Blur-aware Spatio-temporal Sparse Transformer, CVPR 2024).

A pixel that moves a lot between neighbouring frames was blurred a lot within its frame: the
blur map of frame t is the mean squared flow magnitude towards its neighbours, min-max
normalised over the whole clip; the sharp map is ``1 - blur``.
"""
import os
import os.path as osp

import cv2
import numpy as np
import torch

from ...layers.checks import check_tensor


def _length_sq(flow):
    """(..., 2, h, w) -> (..., 1, h, w) squared magnitude."""
    return flow.pow(2).sum(dim=-3, keepdim=True)


def blur_map_from_flows(flows_forward, flows_backward, eps=0.0):
    """Blur maps of a clip from its neighbour flows, as BSSTNet's ``get_blur_map``.

    Args:
        flows_forward (Tensor): (n, t-1, 2, h, w); entry i is the flow from frame i+1 to frame i.
        flows_backward (Tensor): (n, t-1, 2, h, w); entry i is the flow from frame i to i+1.
        eps (float): Added to the normaliser. The official code uses 0 (a motionless clip then
            gives NaN); with eps > 0 a motionless clip gives zeros. Default: 0.

    Returns:
        Tensor: Blur maps (n, t, 1, h, w) in [0, 1], min-max normalised over each clip.
    """
    for name, flows in (('flows_forward', flows_forward), ('flows_backward', flows_backward)):
        check_tensor(flows, name, 5, '(n, t-1, 2, h, w)', (None, None, 2, None, None))
    if flows_forward.shape != flows_backward.shape:
        raise ValueError('expected forward and backward flows of the same shape (n, t-1, 2, h, w)'
                         f', got {tuple(flows_forward.shape)} and {tuple(flows_backward.shape)}')
    first = _length_sq(flows_backward[:, :1])  # frame 0: only its next neighbour
    last = _length_sq(flows_forward[:, -1:])  # frame t-1: only its previous neighbour
    inner = (_length_sq(flows_backward[:, 1:]) + _length_sq(flows_forward[:, :-1])) / 2
    blur = torch.cat([first, inner, last], dim=1)
    flat = blur.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1, 1)
    high = flat.max(dim=1).values.view(-1, 1, 1, 1, 1)
    return (blur - low) / (high - low + eps)


def save_blur_maps(blur, folder, prefix='blur', colormap=cv2.COLORMAP_INFERNO):
    """Write the blur maps of one clip, (t, 1, h, w) or (1, t, 1, h, w) in [0, 1], as PNG images
    (false colour) for inspection. Returns the written paths."""
    blur = blur.detach().float().cpu()
    if blur.dim() == 5:
        if blur.shape[0] != 1:
            raise ValueError('save_blur_maps writes one clip at a time')
        blur = blur[0]
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, frame in enumerate(blur[:, 0].nan_to_num(0).clamp(0, 1).numpy()):
        path = osp.join(folder, f'{prefix}_{i:04d}.png')
        if not cv2.imwrite(path, cv2.applyColorMap((frame * 255).round().astype(np.uint8),
                                                   colormap)):
            raise IOError(f'could not write {path}')
        paths.append(path)
    return paths
