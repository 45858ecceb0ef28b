from .benchmark import benchmark_model, count_parameters
from .checkpoint import (
    CheckpointConversionError,
    load_checkpoint_file,
    strip_prefix,
    unwrap_state_dict,
)

__all__ = [
    'benchmark_model', 'count_parameters', 'CheckpointConversionError', 'load_checkpoint_file',
    'strip_prefix', 'unwrap_state_dict'
]
