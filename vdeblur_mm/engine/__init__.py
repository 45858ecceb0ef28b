"""Runner-side additions (hooks), registered into mmagic's registries."""
from .hooks import (
    RandomStatesHook,
    SaveRestoredFramesHook,
    SequenceProgressHook,
    VideoVisualizationHook,
)

__all__ = [
    'RandomStatesHook', 'SaveRestoredFramesHook', 'SequenceProgressHook',
    'VideoVisualizationHook'
]
