from .frame_by_frame import FrameByFrameNet, FrameByFrameRestorer

__all__ = ['FrameByFrameNet', 'FrameByFrameRestorer']
