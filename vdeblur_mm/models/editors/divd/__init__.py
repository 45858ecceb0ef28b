"""DIVD (arXiv 2412.00773): conditional video diffusion for deblurring (in progress: its
window-based temporal self-attention with multi-frame relative positional encoding)."""
from .divd_wtsa import WindowTemporalSelfAttention, relative_position_index

__all__ = ['WindowTemporalSelfAttention', 'relative_position_index']
