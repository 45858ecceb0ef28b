import pytest
import torch
import torch.nn.functional as F
from torchvision.models.optical_flow import raft_large

from vdeblur_mm.models.editors.bsstnet.raft_convert import (
    RAFT_OFFICIAL_PARAM_SHAPES,
    convert_raft_official_to_torchvision,
    convert_raft_torchvision_to_official,
    load_raft_state_dict,
)


@pytest.fixture(scope='module')
def model():
    """torchvision RAFT-large with every state entry random (norm stats included)."""
    torch.manual_seed(0)
    net = raft_large(weights=None).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for k, v in net.state_dict().items():
            if k.endswith('num_batches_tracked'):
                v.fill_(int(torch.randint(1, 1000, (), generator=g)))
            elif k.endswith('running_var') or (v.dim() == 1 and k.endswith('weight')):
                v.copy_(torch.rand(v.shape, generator=g) + 0.5)
            elif v.dim() == 1:  # biases, running means
                v.copy_(torch.randn(v.shape, generator=g) * 0.1)
    return net


def test_official_table_facts():
    assert len(RAFT_OFFICIAL_PARAM_SHAPES) == 179  # as raft-things.pth
    assert sum(k.endswith('num_batches_tracked') for k in RAFT_OFFICIAL_PARAM_SHAPES) == 17
    params = sum(s.numel() for k, s in RAFT_OFFICIAL_PARAM_SHAPES.items()
                 if k.rsplit('.', 1)[1] in ('weight', 'bias') and '.downsample.1.' not in k)
    assert params == 5_257_536  # torchvision's num_params for raft_large
    assert not any(k.startswith('fnet') and 'norm' in k for k in RAFT_OFFICIAL_PARAM_SHAPES)
    assert RAFT_OFFICIAL_PARAM_SHAPES['update_block.gru.convq1.weight'] == (128, 384, 1, 5)
    assert RAFT_OFFICIAL_PARAM_SHAPES['update_block.mask.2.weight'] == (576, 256, 1, 1)


def test_round_trip(model):
    tv_sd = model.state_dict()
    off = convert_raft_torchvision_to_official(tv_sd)
    assert {k: v.shape for k, v in off.items()} == RAFT_OFFICIAL_PARAM_SHAPES
    assert torch.equal(off['cnet.layer2.0.norm3.running_var'],
                       off['cnet.layer2.0.downsample.1.running_var'])
    back = convert_raft_official_to_torchvision({f'module.{k}': v for k, v in off.items()})
    assert set(back) == set(tv_sd)
    for k, v in tv_sd.items():
        assert torch.equal(back[k], v), k
    raft_large(weights=None).load_state_dict(back, strict=True)
    # one of the duplicated names and no batch counters still convert
    slim = {k: v for k, v in off.items()
            if '.norm3.' not in k and not k.endswith('num_batches_tracked')}
    assert set(convert_raft_official_to_torchvision(slim)) == set(tv_sd)


def test_errors(model):
    off = convert_raft_torchvision_to_official(model.state_dict())
    bad = dict(off)
    del bad['update_block.gru.convz2.bias']
    with pytest.raises(KeyError, match='update_block.gru.convz2.bias'):
        convert_raft_official_to_torchvision(bad)
    with pytest.raises(KeyError, match='unexpected.*fnet.extra'):
        convert_raft_official_to_torchvision({**off, 'fnet.extra': torch.zeros(1)})
    with pytest.raises(ValueError, match=r'fnet.conv2.bias: \(3,\)'):
        convert_raft_official_to_torchvision({**off, 'fnet.conv2.bias': torch.zeros(3)})
    with pytest.raises(ValueError, match='differ'):
        convert_raft_official_to_torchvision(
            {**off, 'cnet.layer3.0.norm3.bias': off['cnet.layer3.0.norm3.bias'] + 1})
    tv_bad = dict(model.state_dict())
    del tv_bad['mask_predictor.conv.weight']
    with pytest.raises(KeyError, match='mask_predictor.conv.weight'):
        convert_raft_torchvision_to_official(tv_bad)


def test_load_raft_state_dict(model, tmp_path):
    tv_sd = model.state_dict()
    off = convert_raft_torchvision_to_official(tv_sd)
    files = {'things.pth': {f'module.{k}': v for k, v in off.items()},  # as raft-things.pth
             'tv.pth': tv_sd, 'wrapped.pth': {'state_dict': off}}
    for name, sd in files.items():
        torch.save(sd, tmp_path / name)
        got = load_raft_state_dict(str(tmp_path / name))
        assert set(got) == set(tv_sd)
        assert all(torch.equal(got[k], v) for k, v in tv_sd.items()), name
    with pytest.raises(FileNotFoundError, match='nothing is'):
        load_raft_state_dict(str(tmp_path / 'raft-things.pth'))
    torch.save({'foo.weight': torch.zeros(1)}, tmp_path / 'other.pth')
    with pytest.raises(ValueError, match='neither'):
        load_raft_state_dict(str(tmp_path / 'other.pth'))


# --- the official computation written with plain torch ops on official-layout tensors ---

def _conv(sd, name, x, stride=1, padding=0):
    return F.conv2d(x, sd[f'{name}.weight'], sd[f'{name}.bias'], stride, padding)


def official_basic_encoder(sd, p, x, batch_norm):
    """princeton-vl BasicEncoder (eval): instance norm for fnet, batch norm for cnet."""

    def norm(name, y):
        if batch_norm:
            return F.batch_norm(y, sd[f'{name}.running_mean'], sd[f'{name}.running_var'],
                                sd[f'{name}.weight'], sd[f'{name}.bias'], False, 0., 1e-5)
        return F.instance_norm(y, eps=1e-5)

    y = F.relu(norm(f'{p}.norm1', _conv(sd, f'{p}.conv1', x, 2, 3)))
    for layer, stride in ((1, 1), (2, 2), (3, 2)):
        for block in (0, 1):
            q, s = f'{p}.layer{layer}.{block}', stride if block == 0 else 1
            z = F.relu(norm(f'{q}.norm1', _conv(sd, f'{q}.conv1', y, s, 1)))
            z = F.relu(norm(f'{q}.norm2', _conv(sd, f'{q}.conv2', z, 1, 1)))
            if s != 1:
                y = norm(f'{q}.norm3', _conv(sd, f'{q}.downsample.0', y, s))
            y = F.relu(y + z)
    return _conv(sd, f'{p}.conv2', y)


def official_update_block(sd, net, inp, corr, flow):
    """princeton-vl BasicUpdateBlock: returns (net, 0.25 * mask, delta_flow)."""
    e = 'update_block.encoder'
    cor = F.relu(_conv(sd, f'{e}.convc2', F.relu(_conv(sd, f'{e}.convc1', corr)), padding=1))
    flo = F.relu(_conv(sd, f'{e}.convf2', F.relu(_conv(sd, f'{e}.convf1', flow, padding=3)),
                       padding=1))
    motion = torch.cat([F.relu(_conv(sd, f'{e}.conv', torch.cat([cor, flo], 1), padding=1)),
                        flow], 1)
    x = torch.cat([inp, motion], 1)
    for i, pad in (('1', (0, 2)), ('2', (2, 0))):
        hx = torch.cat([net, x], 1)
        z = torch.sigmoid(_conv(sd, f'update_block.gru.convz{i}', hx, padding=pad))
        r = torch.sigmoid(_conv(sd, f'update_block.gru.convr{i}', hx, padding=pad))
        q = torch.tanh(_conv(sd, f'update_block.gru.convq{i}', torch.cat([r * net, x], 1),
                             padding=pad))
        net = (1 - z) * net + z * q
    delta = _conv(sd, 'update_block.flow_head.conv2',
                  F.relu(_conv(sd, 'update_block.flow_head.conv1', net, padding=1)), padding=1)
    mask = 0.25 * _conv(sd, 'update_block.mask.2',
                        F.relu(_conv(sd, 'update_block.mask.0', net, padding=1)))
    return net, mask, delta


def test_mapping_is_numerically_exact(model):
    sd = convert_raft_torchvision_to_official(model.state_dict())
    g = torch.Generator().manual_seed(2)
    img = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    with torch.no_grad():
        for off, tv, bn in (('fnet', model.feature_encoder, False),
                            ('cnet', model.context_encoder, True)):
            ref = official_basic_encoder(sd, off, img, bn)
            assert ref.shape == (1, 256, 4, 4)
            assert torch.allclose(tv(img), ref, atol=1e-4, rtol=1e-4), off
        net = torch.tanh(torch.randn(1, 128, 4, 4, generator=g))
        inp = torch.relu(torch.randn(1, 128, 4, 4, generator=g))
        corr = torch.randn(1, 324, 4, 4, generator=g)
        flow = torch.randn(1, 2, 4, 4, generator=g)
        ref_net, ref_mask, ref_delta = official_update_block(sd, net, inp, corr, flow)
        hidden, delta = model.update_block(net, inp, corr, flow)
        assert torch.allclose(hidden, ref_net, atol=1e-5)
        assert torch.allclose(delta, ref_delta, atol=1e-4)
        assert torch.allclose(model.mask_predictor(hidden), ref_mask, atol=1e-4)
