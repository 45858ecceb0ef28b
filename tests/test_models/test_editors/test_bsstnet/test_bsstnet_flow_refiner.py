import pytest
import torch
from torchvision.ops import deform_conv2d

from vdeblur_mm.models.editors.bsstnet.bsstnet_flow_refiner import (
    RecurrentFlowCompleteNet,
    SecondOrderDeformableAlignment,
)


def official_param_shapes():
    """Key -> shape of the official RecurrentFlowCompleteNet (huicongzhang/BSSTNet@32eb276,
    basicsr/archs/propainter/recurrent_flow_completion.py), written out from the code."""
    table = {}

    def conv(prefix, cout, cin, *k):
        table[f'{prefix}.weight'] = (cout, cin, *k)
        table[f'{prefix}.bias'] = (cout, )

    conv('downsample.0', 32, 3, 1, 5, 5)
    for i, (cin, cout) in ((0, (32, 32)), (2, (32, 64))):  # P3DBlocks
        conv(f'encoder1.{i}.conv1.0', cout, cin, 1, 3, 3)
        conv(f'encoder1.{i}.conv2.0', cout, cout, 3, 1, 1)
    for i in (0, 2, 4):
        conv(f'mid_dilation.{i}', 64, 64, 1, 3, 3)
    for j, d in enumerate(('backward_', 'forward_')):
        p = f'feat_prop_module.deform_align.{d}'
        conv(p, 64, 128, 3, 3)  # ModulatedDeformConv2d(2*64, 64, 3)
        conv(f'{p}.conv_offset.0', 64, 3 * 64, 3, 3)
        conv(f'{p}.conv_offset.2', 64, 64, 3, 3)
        conv(f'{p}.conv_offset.4', 64, 64, 3, 3)
        conv(f'{p}.conv_offset.6', 27 * 16, 64, 3, 3)
        conv(f'feat_prop_module.backbone.{d}.0', 64, (2 + j) * 64, 3, 3)
        conv(f'feat_prop_module.backbone.{d}.2', 64, 64, 3, 3)
    conv('feat_prop_module.fusion', 64, 128, 1, 1)
    conv('decoder1.0', 64, 64, 3, 3)
    conv('decoder1.2.conv', 32, 64, 3, 3)
    conv('upsample.0', 32, 32, 3, 3)
    conv('upsample.2.conv', 2, 32, 3, 3)
    return table


OFFICIAL_NUM_PARAMS = 1_503_330  # hand-summed from the table above


def _inputs(b=1, t=3, h=8, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    blur = torch.rand(b, t, 1, h, w, generator=g)
    ff = torch.randn(b, t - 1, 2, h, w, generator=g)
    fb = torch.randn(b, t - 1, 2, h, w, generator=g)
    return blur, ff, fb


def _randomise(net, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.05)
    return net


def test_state_dict_matches_official_layout():
    sd = RecurrentFlowCompleteNet().state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == official_param_shapes()
    n = sum(p.numel() for p in RecurrentFlowCompleteNet().parameters())
    assert n == OFFICIAL_NUM_PARAMS
    assert n == sum(torch.Size(s).numel() for s in official_param_shapes().values())


def test_fresh_net_is_identity_on_flows():
    torch.manual_seed(0)
    net = RecurrentFlowCompleteNet()
    blur, ff, fb = _inputs(b=2, t=4, h=8, w=12)
    out_f, out_b = net.forward_bidirect_flow(blur, [ff, fb])
    assert out_f.shape == ff.shape and out_b.shape == fb.shape
    assert torch.equal(out_f, ff) and torch.equal(out_b, fb)


def test_bidirect_pairing_and_gradients_reach_every_parameter():
    net = _randomise(RecurrentFlowCompleteNet())
    blur, ff, fb = _inputs(t=3, h=8, w=8)
    out_f, out_b = net.forward_bidirect_flow(blur, [ff, fb])
    assert out_f.shape == (1, 2, 2, 8, 8) and out_b.shape == (1, 2, 2, 8, 8)
    assert not torch.allclose(out_f, ff)
    # backward flows go with frames 1..t-1; forward flows, reversed in time, with 0..t-2
    with torch.no_grad():
        assert torch.allclose(out_b, net(blur[:, 1:], fb), atol=1e-6)
        assert torch.allclose(out_f, net(blur[:, :-1].flip(1), ff.flip(1)).flip(1), atol=1e-6)
        blur2 = blur.clone()
        blur2[:, 0] = 0.5
        f2, b2 = net.forward_bidirect_flow(blur2, [ff, fb])
        assert torch.allclose(b2, out_b) and not torch.allclose(f2, out_f)
    (out_f.square().mean() + out_b.square().mean()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_alignment_matches_torchvision_formulation():
    torch.manual_seed(0)
    c, dg = 4, 2
    m = SecondOrderDeformableAlignment(2 * c, c, 3, padding=1, deform_groups=dg)
    torch.nn.init.normal_(m.conv_offset[-1].weight, std=0.1)
    x, extra = torch.randn(1, 2 * c, 6, 5), torch.randn(1, 3 * c, 6, 5)
    o1, o2, mk = torch.chunk(m.conv_offset(extra), 3, 1)
    off = 5 * torch.tanh(torch.cat([o1, o2], 1))
    ref = deform_conv2d(x, off, m.weight, m.bias, padding=1, mask=torch.sigmoid(mk))
    assert torch.allclose(m(x, extra), ref, atol=1e-5)
    m.init_weights()  # mmcv's init keeps the offset head at zero
    assert m.conv_offset[-1].weight.abs().sum() == 0


def test_load_local_checkpoint(tmp_path):
    src = _randomise(RecurrentFlowCompleteNet(), seed=3)
    path = tmp_path / 'bsst.pth'
    torch.save({'params': {f'blur_motion_refine.{k}': v for k, v in src.state_dict().items()}},
               path)
    net = RecurrentFlowCompleteNet(model_path=str(path))
    for k, v in src.state_dict().items():
        assert torch.equal(net.state_dict()[k], v), k
    with pytest.raises(FileNotFoundError, match='nothing is downloaded'):
        RecurrentFlowCompleteNet(model_path=str(tmp_path / 'missing.pth'))


def test_bad_inputs():
    net = RecurrentFlowCompleteNet()
    blur, ff, fb = _inputs(t=3, h=8, w=8)
    with pytest.raises(ValueError, match='blur_motion_map'):
        net.forward_bidirect_flow(blur[:, :, 0], [ff, fb])  # rank 4
    with pytest.raises(ValueError, match='flows_forward'):
        net.forward_bidirect_flow(blur, [ff[:, :, :1], fb])  # 1 channel
    with pytest.raises(ValueError, match='t-1 = 2'):
        net.forward_bidirect_flow(blur, [ff, torch.cat([fb, fb], 1)])
    with pytest.raises(ValueError, match='does not match'):
        net.forward_bidirect_flow(blur, [ff, fb[..., :4]])
    with pytest.raises(ValueError, match='flows_forward, flows_backward'):
        net.forward_bidirect_flow(blur, [ff])
    with pytest.raises(ValueError, match='at least 2 frames'):
        net.forward_bidirect_flow(blur[:, :1], [ff[:, :0], fb[:, :0]])
    with pytest.raises(ValueError, match='multiple of 4'):
        net(blur[:, 1:, :, :6, :6], fb[..., :6, :6])
    with pytest.raises(ValueError, match='must agree'):
        net(blur[:, 1:], fb[..., :4])
