"""VD-Diff (ECCV 2024): wavelet-aware dynamic transformer with a diffusion-generated prior."""
from .convert import convert_vddiff_official_to_ours, convert_vddiff_ours_to_official
from .vddiff import VDDiffDeblur
from .vddiff_diffusion import DenoiseMLP, PriorDiffusion, prior_schedule
from .vddiff_net import WADT, VDDiffNet
from .vddiff_ops import haar_downsample, haar_upsample, pixel_dynamic_dwconv
from .vddiff_prior import PriorEncoder, ResBlock
from .vddiff_propagation import DynamicKernelConv, GatedPropagation
from .vddiff_transformer import PriorTransformer, PriorTransformerBlock

__all__ = ['DenoiseMLP', 'DynamicKernelConv', 'GatedPropagation', 'PriorDiffusion',
           'PriorEncoder', 'PriorTransformer', 'PriorTransformerBlock', 'ResBlock',
           'VDDiffDeblur', 'VDDiffNet', 'WADT', 'convert_vddiff_official_to_ours',
           'convert_vddiff_ours_to_official', 'haar_downsample', 'haar_upsample',
           'pixel_dynamic_dwconv', 'prior_schedule']
