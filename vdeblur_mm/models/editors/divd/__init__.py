"""DIVD (arXiv 2412.00773): conditional video diffusion for deblurring with window-based
temporal self-attention and multi-frame relative positional encoding."""
from .divd import DEFAULT_SCHEDULE, DIVD
from .divd_diffusion import build_scheduler, check_same_schedule, sample, training_target
from .divd_unet import DIVDUNet, ResAttentionBlock
from .divd_wtsa import WindowTemporalSelfAttention, relative_position_index

__all__ = ['DEFAULT_SCHEDULE', 'DIVD', 'DIVDUNet', 'ResAttentionBlock',
           'WindowTemporalSelfAttention', 'build_scheduler', 'check_same_schedule',
           'relative_position_index', 'sample', 'training_target']
