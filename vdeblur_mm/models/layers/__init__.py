"""Building blocks shared by the editors: deformable convolution, optical flow, blur maps,
sliding windows, padding, the inference-spec contract."""
from .blur_aware_alignment import BlurAwareDeformableAlignment, forward_backward_consistency
from .blur_map import blur_map_from_flows, save_blur_maps
from .dcn import ModulatedDCNPack
from .flow import DISFlowEstimator, FrozenFlowEstimator, RAFTFlowEstimator
from .video import (DEFAULT_INFERENCE_SPEC, get_inference_spec, pad_to_multiple, sliding_window,
                    window_indices)

__all__ = [
    'BlurAwareDeformableAlignment', 'forward_backward_consistency',
    'blur_map_from_flows', 'save_blur_maps', 'ModulatedDCNPack', 'DISFlowEstimator',
    'FrozenFlowEstimator', 'RAFTFlowEstimator', 'DEFAULT_INFERENCE_SPEC', 'get_inference_spec',
    'pad_to_multiple', 'sliding_window', 'window_indices'
]
