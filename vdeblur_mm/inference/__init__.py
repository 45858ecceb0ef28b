from ..models.layers.stitching import (
                                      InferenceSpec,
                                      StitchSettings,
                                      VideoStitcher,
                                      resolve_inference_spec,
)
from ..models.layers.video import tile_starts
from .api import deblur_video, init_model
from .restorer import VideoRestorer, build_stitcher
from .video_io import FrameReader, FrameWriter, VideoReadError

__all__ = [
    'deblur_video', 'init_model', 'InferenceSpec', 'StitchSettings', 'VideoStitcher',
    'resolve_inference_spec', 'VideoRestorer', 'build_stitcher', 'tile_starts', 'FrameReader',
    'FrameWriter', 'VideoReadError'
]
