from .frame_by_frame import FrameByFrameNet, FrameByFrameRestorer
from .frame_stack import FrameStackNet, FrameStackRestorer

__all__ = ['FrameByFrameNet', 'FrameByFrameRestorer', 'FrameStackNet', 'FrameStackRestorer']
