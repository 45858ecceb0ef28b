from .benchmark import benchmark_model, count_parameters
from .checkpoint import (
    CheckpointConversionError,
    load_checkpoint_file,
    strip_prefix,
    unwrap_state_dict,
)
from .malloc import limit_heap_retention

__all__ = [
    'benchmark_model', 'count_parameters', 'CheckpointConversionError', 'load_checkpoint_file',
    'strip_prefix', 'unwrap_state_dict', 'limit_heap_retention'
]
