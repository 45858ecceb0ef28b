"""Building blocks shared by the editors: deformable convolution, optical-flow estimators,
sliding windows, padding, the inference-spec contract."""
from .dcn import ModulatedDCNPack
from .flow import DISFlowEstimator, FrozenFlowEstimator, RAFTFlowEstimator
from .video import (DEFAULT_INFERENCE_SPEC, get_inference_spec, pad_to_multiple, sliding_window,
                    window_indices)

__all__ = [
    'ModulatedDCNPack', 'DISFlowEstimator', 'FrozenFlowEstimator', 'RAFTFlowEstimator',
    'DEFAULT_INFERENCE_SPEC', 'get_inference_spec', 'pad_to_multiple',
    'sliding_window', 'window_indices'
]
