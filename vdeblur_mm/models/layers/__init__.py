"""Building blocks shared by the editors: deformable convolution, optical flow, blur maps,
sparse attention, sliding windows, padding, the inference-spec contract."""
from .blur_aware_alignment import BlurAwareDeformableAlignment, forward_backward_consistency
from .blur_map import blur_map_from_flows, save_blur_maps
from .dcn import ModulatedDCNPack
from .flow import DISFlowEstimator, FrozenFlowEstimator, RAFTFlowEstimator, neighbour_flows
from .flow_completion import RecurrentFlowCompleteNet
from .sparse_transformer import (BlurAwareSparseTransformer, select_sparse_tokens,
                                 window_blur_scores)
from .stitching import (InferenceSpec, StitchSettings, VideoStitcher, chunk_spans,
                        resolve_inference_spec)
from .video import pad_to_multiple, sliding_window, tile_starts, window_indices

__all__ = [
    'BlurAwareDeformableAlignment', 'forward_backward_consistency', 'blur_map_from_flows',
    'save_blur_maps', 'ModulatedDCNPack', 'DISFlowEstimator', 'FrozenFlowEstimator',
    'RAFTFlowEstimator', 'neighbour_flows', 'RecurrentFlowCompleteNet',
    'BlurAwareSparseTransformer', 'select_sparse_tokens', 'window_blur_scores',
    'InferenceSpec', 'StitchSettings', 'VideoStitcher', 'chunk_spans', 'resolve_inference_spec',
    'pad_to_multiple', 'sliding_window', 'tile_starts', 'window_indices'
]
