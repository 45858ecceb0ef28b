from ..models.layers.video import DEFAULT_INFERENCE_SPEC, get_inference_spec
from .api import deblur_video, init_model
from .restorer import VideoRestorer, tile_starts
from .video_io import FrameReader, FrameWriter, VideoReadError

__all__ = [
    'deblur_video', 'init_model', 'DEFAULT_INFERENCE_SPEC', 'VideoRestorer', 'get_inference_spec',
    'tile_starts', 'FrameReader', 'FrameWriter', 'VideoReadError'
]
