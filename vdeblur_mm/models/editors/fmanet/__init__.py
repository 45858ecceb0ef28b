from .fmanet import FMANetVSRDB
from .fmanet_net import FMANet

__all__ = ['FMANet', 'FMANetVSRDB']
