"""VD-Diff (ECCV 2024): wavelet-aware dynamic transformer with a diffusion prior (in progress:
its ops so far)."""
from .vddiff_ops import haar_downsample, haar_upsample, pixel_dynamic_dwconv

__all__ = ['haar_downsample', 'haar_upsample', 'pixel_dynamic_dwconv']
