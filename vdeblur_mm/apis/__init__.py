"""Inference entry points in mmagic's style (``mmagic.apis``)."""
from .inferencers import VideoDeblurInferencer

__all__ = ['VideoDeblurInferencer']
