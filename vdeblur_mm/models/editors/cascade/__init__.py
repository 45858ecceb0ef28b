"""Generic two-stage cascade of video restorers (EDVR's two-stage strategy)."""
from .cascade import CascadeRestorer

__all__ = ['CascadeRestorer']
