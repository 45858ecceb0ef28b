from .video_transforms import LoadVideoFrames, SampleVideoClip

__all__ = ['LoadVideoFrames', 'SampleVideoClip']
