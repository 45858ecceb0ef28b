import pytest
import torch
from mmengine.model import BaseModule
from torch import nn

import vdeblur_mm  # noqa: F401  (registers ZeroInitSubmodules)


class Net(BaseModule):

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 3, 3, padding=1))


def test_zero_init_submodules_reaches_nested_modules():
    net = Net(init_cfg=dict(type='ZeroInitSubmodules', names=['body.1']))
    net.init_weights()
    assert torch.count_nonzero(net.body[1].weight) == 0
    assert torch.count_nonzero(net.body[1].bias) == 0
    assert torch.count_nonzero(net.body[0].weight) > 0
    x = torch.rand(1, 3, 8, 8)
    assert torch.count_nonzero(net.body(x)) == 0


def test_zero_init_submodules_names_a_missing_module():
    net = Net(init_cfg=dict(type='ZeroInitSubmodules', names=['body.7']))
    with pytest.raises(KeyError, match='body.7'):
        net.init_weights()
