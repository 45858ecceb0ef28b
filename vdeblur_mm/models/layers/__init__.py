"""Building blocks that two or more methods use: the stitching (chunks, tiles, blending, the
inference contract), sliding windows and padding, deformable convolution."""
from .dcn import ModulatedDCNPack
from .stitching import (
    InferenceSpec,
    StitchSettings,
    VideoStitcher,
    chunk_spans,
    resolve_inference_spec,
)
from .video import pad_to_multiple, sliding_window, tile_starts, window_indices

__all__ = [
    'ModulatedDCNPack', 'InferenceSpec', 'StitchSettings', 'VideoStitcher', 'chunk_spans',
    'resolve_inference_spec', 'pad_to_multiple', 'sliding_window', 'tile_starts',
    'window_indices'
]
