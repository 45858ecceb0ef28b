"""EDVR for video deblurring (BasicSR's pre-deblur / hr_in variant) and its checkpoint converter."""
from .edvr import EDVRDeblur
from .edvr_net import EDVRDeblurNet, PCDAlignment, PredeblurModule, TSAFusion

__all__ = ['EDVRDeblur', 'EDVRDeblurNet', 'PCDAlignment', 'PredeblurModule', 'TSAFusion']
