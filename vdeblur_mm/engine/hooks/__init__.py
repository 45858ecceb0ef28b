from .random_states_hook import RandomStatesHook, capture_random_states, restore_random_states
from .test_progress_hooks import (
    SaveRestoredFramesHook,
    SequenceProgressHook,
    VideoVisualizationHook,
)

__all__ = [
    'RandomStatesHook', 'capture_random_states', 'restore_random_states',
    'SaveRestoredFramesHook', 'SequenceProgressHook', 'VideoVisualizationHook'
]
