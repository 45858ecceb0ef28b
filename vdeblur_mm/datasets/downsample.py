"""Bicubic x``scale`` downsampling of frames, for the low-resolution (VSRDB) variants of the
datasets (GoPro x4, synthetic data with ``lr_scale``).

'matlab' is MATLAB's ``imresize(img, 1/scale, 'bicubic')`` (with its anti-aliasing kernel
widening), through mmagic's ``MATLABLikeResize``: REDS' ``*_bicubic/X4`` frames were made with
MATLAB's imresize. 'cv2' is ``cv2.resize(..., interpolation=cv2.INTER_CUBIC)``: much faster,
but without anti-aliasing (aliased at x4), so not the same data.
"""
import os
import os.path as osp

import cv2
import numpy as np

from .layouts import list_frames

DOWNSAMPLE_METHODS = ('matlab', 'cv2')


def downsample_frame(img, scale, method='matlab'):
    """Downsample one uint8 (h, w[, c]) frame by an integer ``scale``.

    Args:
        img (ndarray): uint8 frame; h and w must be multiples of ``scale``.
        scale (int): Downsampling factor.
        method (str): 'matlab' (MATLAB-like bicubic, anti-aliased) or 'cv2'
            (``cv2.INTER_CUBIC``). Default: 'matlab'.

    Returns:
        ndarray: uint8 frame of (h / scale, w / scale[, c]).
    """
    if method not in DOWNSAMPLE_METHODS:
        raise ValueError(f'downsampling method must be one of {DOWNSAMPLE_METHODS}, got '
                         f'{method!r}')
    h, w = img.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f'a {w}x{h} frame cannot be downsampled x{scale}: its size is not a '
                         f'multiple of {scale}')
    out_hw = (h // scale, w // scale)
    if method == 'cv2':
        return cv2.resize(img, out_hw[::-1], interpolation=cv2.INTER_CUBIC)
    from mmagic.datasets.transforms import MATLABLikeResize
    out = MATLABLikeResize(keys=[], output_shape=out_hw)._resize(img.astype(np.float64))
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return out[..., 0] if img.ndim == 2 else out


def downsample_folder(src, dst, scale, method='matlab', overwrite=False):
    """Write the x``scale``-downsampled copy of every frame of ``src`` to ``dst`` (same names).

    Returns:
        int: Frames written (existing ones are kept unless ``overwrite``).
    """
    os.makedirs(dst, exist_ok=True)
    written = 0
    for name in list_frames(src):
        out_path = osp.join(dst, name)
        if osp.isfile(out_path) and not overwrite:
            continue
        img = cv2.imread(osp.join(src, name), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise IOError(f'frame {osp.join(src, name)} could not be decoded')
        if not cv2.imwrite(out_path, downsample_frame(img, scale, method)):
            raise IOError(f'could not write {out_path}')
        written += 1
    return written
