from .bsstnet import BSSTNetDeblur
from .bsstnet_net import BSSTNet

__all__ = ['BSSTNet', 'BSSTNetDeblur']
