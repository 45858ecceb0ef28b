from .bsstnet import BSSTNetDeblur
from .bsstnet_flow import DISFlowEstimator, RAFTFlowEstimator
from .bsstnet_net import BSSTNet

__all__ = ['BSSTNet', 'BSSTNetDeblur', 'DISFlowEstimator', 'RAFTFlowEstimator']
