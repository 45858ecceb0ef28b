"""A tiny FMA-Net (every component of the real one, small widths) for the tests."""
import torch

from vdeblur_mm.models.editors.fmanet import FMANet

TINY = dict(dim=18, num_frames=3, degradation_kernel_size=8, restoration_kernel_size=3,
            num_rdb=2, growth_rate=6, num_dense_layers=2, num_flows=3, num_frma=2,
            num_attn_blocks=1, num_heads=2)


def tiny_fmanet(stage=2, seed=0, dtype=torch.float32, **kwargs):
    torch.manual_seed(seed)
    net = FMANet(stage=stage, **dict(TINY, **kwargs)).to(dtype)
    # larger flow heads than the default init, so that warps move pixels (as trained nets do)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(('conv_f.2.weight', 'f_conv.2.weight', 'f_conv2.2.weight',
                              'f_conv3.2.weight')):
                p.mul_(10)
    return net
