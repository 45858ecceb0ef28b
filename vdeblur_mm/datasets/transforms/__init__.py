from .video_transforms import (
    FlipWithFlow,
    LoadPseudoFlows,
    LoadVideoFrames,
    SampleVideoClip,
    ScaledPairedRandomCrop,
)

__all__ = ['FlipWithFlow', 'LoadPseudoFlows', 'LoadVideoFrames', 'SampleVideoClip',
           'ScaledPairedRandomCrop']
