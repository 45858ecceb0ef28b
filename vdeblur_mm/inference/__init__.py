from .api import deblur_video, init_model
from .restorer import DEFAULT_INFERENCE_SPEC, VideoRestorer, get_inference_spec, tile_starts
from .video_io import FrameReader, FrameWriter, VideoReadError

__all__ = [
    'deblur_video', 'init_model', 'DEFAULT_INFERENCE_SPEC', 'VideoRestorer', 'get_inference_spec', 'tile_starts',
           'FrameReader', 'FrameWriter', 'VideoReadError']
