"""VD-Diff network: shapes and gradients of every part, the diffusion chain, prior modulation,
seeded sampling, bad input, the parameter count of the GoPro network and checkpoint
conversion."""
import hashlib

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from vdeblur_mm.models.editors.vddiff import (
    DenoiseMLP,
    DynamicKernelConv,
    GatedPropagation,
    PriorDiffusion,
    PriorEncoder,
    PriorTransformer,
    VDDiffNet,
    prior_schedule,
)
from vdeblur_mm.models.editors.vddiff.convert import (
    official_haar_weights,
    official_to_ours,
    ours_to_official,
)
from vdeblur_mm.models.editors.vddiff.vddiff_diffusion import SCHEDULE_BUFFERS
from vdeblur_mm.models.editors.vddiff.vddiff_transformer import ChannelLayerNorm, per_frame_conv
from vdeblur_mm.utils.checkpoint import CheckpointConversionError

TINY = dict(mid_channels=8, num_blocks=(1, 1), heads=(2, 2), propagation_blocks=1,
            prior_channels=16, encoder_channels=8, encoder_blocks=1)


def tiny_net(stage='s3', seed=0, **kwargs):
    torch.manual_seed(seed)
    return VDDiffNet(stage=stage, **dict(TINY, **kwargs))


def count(module):
    return sum(p.numel() for p in module.parameters())


def clip(n=1, t=3, h=32, w=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, t, 3, h, w, generator=g), torch.rand(n, t, 3, h, w, generator=g)


# ---------------------------------------------------------------- prior encoders, diffusion

def test_prior_encoders_shapes_gradients_and_bad_input():
    le, ce = PriorEncoder(2, 3, 8, 2, 16), PriorEncoder(1, 3, 8, 2, 16)
    x, y = torch.rand(5, 3, 16, 24), torch.rand(5, 3, 16, 24)
    assert le(x, y).shape == (5, 16) and ce(x).shape == (5, 16)
    assert le.conv_in.in_channels == 96 and ce.conv_in.in_channels == 48  # official widths
    le(x, y).sum().backward()
    assert all(p.grad is not None for p in le.parameters())
    with pytest.raises(ValueError, match='takes 2 image batch'):
        le(x)
    with pytest.raises(ValueError, match='multiples of 4'):
        ce(torch.rand(1, 3, 18, 16))


def test_schedule_is_the_official_linear_one():
    s = prior_schedule()
    assert torch.allclose(s['betas'], torch.tensor([0.1, 0.294286, 0.590952, 0.99]), atol=1e-6)
    assert torch.allclose(s['alphas_cumprod'],
                          torch.tensor([0.9, 0.635143, 0.259804, 0.002598]), atol=1e-6)
    assert len(s) == 12 and all(v.dtype == torch.float32 for v in s.values())
    # the last reverse step returns the predicted x0 itself
    assert s['posterior_mean_coef1'][0] == 1 and s['posterior_mean_coef2'][0] == 0


def test_denoiser_input_is_cond_time_x():
    torch.manual_seed(0)
    mlp = DenoiseMLP(4, num_layers=2, timesteps=4)
    x, c = torch.randn(3, 4), torch.randn(3, 4)
    ref = torch.cat([c, torch.full((3, 1), 3 / 40), x], 1)
    for fc in [mlp.fc_in, *mlp.fcs]:
        ref = F.leaky_relu(fc(ref), 0.1)  # no residual
    assert torch.allclose(mlp(x, 3, c), ref, atol=1e-6)


class PerfectDenoiser(nn.Module):
    """Returns the true x0 whatever it is given."""

    def __init__(self, x0):
        super().__init__()
        self.x0 = x0

    def forward(self, x, t, cond):
        return self.x0


def test_reverse_chain_with_a_perfect_denoiser_returns_the_prior():
    torch.manual_seed(0)
    dm = PriorDiffusion(16, cond_mid_channels=8, cond_num_blocks=1).double()
    prior = torch.randn(6, 16, dtype=torch.float64)
    dm.denoise = PerfectDenoiser(prior)
    frames = torch.rand(6, 3, 8, 8, dtype=torch.float64)
    # training: from q_sample(prior, T - 1); inference: from noise
    for start in (prior, None):
        out, steps = dm(frames, start, torch.Generator().manual_seed(3))
        assert len(steps) == 4 and steps[-1] is out
        assert torch.allclose(out, prior, atol=1e-12)
    # each step is the posterior mean, the earlier ones still noisy
    x = torch.randn(6, 16, dtype=torch.float64)
    steps = dm.reverse(x, None)
    s = prior_schedule()
    ref = s['posterior_mean_coef1'][3].double() * prior + s['posterior_mean_coef2'][3].double() * x
    assert torch.allclose(steps[0], ref, atol=1e-7) and not torch.allclose(steps[0], prior)


def test_training_chain_starts_from_q_sample_of_the_prior():
    torch.manual_seed(0)
    dm = PriorDiffusion(16, cond_mid_channels=8, cond_num_blocks=1)
    seen = {}

    def spy(x, t, cond):
        seen.setdefault(t, x.clone())
        return x

    dm.reverse = lambda x, cond, denoise=None: PriorDiffusion.reverse(dm, x, cond, spy)
    prior = torch.randn(2, 16)
    dm(torch.rand(2, 3, 8, 8), prior, torch.Generator().manual_seed(4))
    noise = torch.randn(2, 16, generator=torch.Generator().manual_seed(4))
    ac = prior_schedule()['alphas_cumprod'][3]
    assert torch.allclose(seen[3], ac.sqrt() * prior + (1 - ac).sqrt() * noise, atol=1e-6)


# ---------------------------------------------------------------- transformer, propagation

def test_transformer_blocks_helpers_against_plain_definitions():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 3, 5, 7)  # (n, c, t, h, w)
    ln = ChannelLayerNorm(6)
    nn.init.normal_(ln.weight), nn.init.normal_(ln.bias)
    ref = F.layer_norm(x.movedim(1, -1), (6, ), ln.weight, ln.bias, 1e-5).movedim(-1, 1)
    assert torch.allclose(ln(x), ref, atol=1e-5)
    conv = nn.Conv2d(6, 6, 3, 1, 1, groups=6)
    ref = torch.stack([conv(x[:, :, i]) for i in range(3)], 2)
    assert torch.allclose(per_frame_conv(x, conv), ref, atol=1e-6)


def test_transformer_shapes_gradients_and_prior_modulation():
    torch.manual_seed(0)
    tf = PriorTransformer(8, (1, 1), (2, 2), prior_channels=16)
    x = torch.randn(2, 8, 3, 8, 12, requires_grad=True)
    prior = torch.randn(6, 16)
    out = tf(x, prior)
    assert out.shape == x.shape
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.any() for p in tf.parameters())
    with torch.no_grad():
        assert not torch.allclose(tf(x, prior), tf(x, prior + 1))
        # the prior of one frame changes that frame (and, through time convs, others)
        p2 = prior.clone()
        p2[0] += 1
        diff = (tf(x, prior) - tf(x, p2)).abs().amax((0, 1, 3, 4))
        assert diff[0] > 0
    with pytest.raises(ValueError, match=r'\(n \* t, P\)'):
        tf(x, torch.randn(5, 16))


@pytest.mark.parametrize('reverse', [False, True])
def test_propagation_is_causal_in_its_direction(reverse):
    torch.manual_seed(0)
    prop = GatedPropagation(4, num_blocks=1, reverse=reverse)
    feat = torch.randn(1, 4, 4, 8, 8)
    out = prop(feat)
    assert out.shape == feat.shape
    changed = feat.clone()
    changed[:, 2] += 1  # frame 2: reaches frames >= 2 forward, <= 2 backward
    delta = (prop(changed) - out).abs().amax((0, 2, 3, 4))
    untouched = [0, 1] if not reverse else [3]
    assert (delta[untouched] == 0).all() and (delta[2] > 0)


def test_dynamic_kernel_conv_shapes_gradients_and_size_error():
    torch.manual_seed(0)
    dyn = DynamicKernelConv(4)
    x = torch.randn(2, 4, 16, 8, requires_grad=True)
    assert dyn.predict_kernels(x).shape == (2, 36, 16, 8)
    dyn(x).sum().backward()
    assert all(p.grad is not None for p in dyn.parameters()) and x.grad is not None
    with pytest.raises(ValueError, match='multiples of 8'):
        dyn(torch.randn(1, 4, 12, 8))


# ---------------------------------------------------------------- the network

def test_network_outputs_of_every_stage():
    lq, gt = clip(n=2)
    for stage in ('s1', 's2', 's3'):
        net = tiny_net(stage)
        net.train()
        out, priors = net(lq, gt)
        want = {'le'} if stage == 's1' else {'le', 'dm', 'dm_steps'}
        assert set(priors) == want and priors['le'].shape == (6, 16)
        assert out is None if stage == 's2' else out.shape == lq.shape
        if stage != 's1':
            assert priors['dm'].shape == (6, 16) and len(priors['dm_steps']) == 4
        net.eval()
        with torch.no_grad():
            assert net(lq, gt if stage == 's1' else None).shape == lq.shape
    assert tiny_net('s1').dm is None


def test_gradients_reach_every_parameter_in_stage_3():
    net = tiny_net('s3')
    net.train()
    out, priors = net(*clip())
    (out.abs().mean() + (priors['dm'] - priors['le']).abs().mean()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def test_seeded_sampling_is_reproducible_and_the_prior_matters():
    net = tiny_net('s3').eval()
    lq, _ = clip()
    with torch.no_grad():
        a = net(lq, generator=torch.Generator().manual_seed(0))
        b = net(lq, generator=torch.Generator().manual_seed(0))
        c = net(lq, generator=torch.Generator().manual_seed(1))
        assert torch.equal(a, b) and not torch.equal(a, c)
        prior = torch.randn(3, 16)
        assert not torch.allclose(net.wadt(lq, prior), net.wadt(lq, 2 * prior))


def test_output_residual_double_adds_lq_once_more():
    lq, gt = clip()
    double, single = tiny_net('s1').eval(), tiny_net('s1', output_residual='single').eval()
    with torch.no_grad():
        assert torch.allclose(double(lq, gt), single(lq, gt) + lq, atol=1e-6)
    with pytest.raises(ValueError, match='output_residual'):
        tiny_net(output_residual='none')


def test_bad_input_raises_clear_errors():
    net = tiny_net('s3').eval()
    with pytest.raises(ValueError, match='multiples of 16.*got 24x32'):
        net(torch.rand(1, 2, 3, 24, 32))
    with pytest.raises(ValueError, match=r'\(n, t, 3, h, w\)'):
        net(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r'\(n, t, 3, h, w\)'):
        net(torch.rand(1, 2, 4, 32, 32))
    with pytest.raises(ValueError, match="stage 's1'"):
        tiny_net('s1').eval()(torch.rand(1, 2, 3, 32, 32))
    net.train()
    with pytest.raises(ValueError, match='needs gt in training'):
        net(torch.rand(1, 2, 3, 32, 32))
    with pytest.raises(ValueError, match='shape of lq'):
        net(torch.rand(1, 2, 3, 32, 32), torch.rand(1, 3, 3, 32, 32))
    with pytest.raises(ValueError, match='stage must be one of'):
        VDDiffNet(stage='s4')


# ---------------------------------------------------------------- GoPro size and conversion

#: sha256 of the sorted "key shape" lines of the official GoPro S3_arch state dict (657 keys)
OFFICIAL_LAYOUT_SHA = '5806d0fc5f33aec3616bd5f47b53d815718e4b553f7ed00879ea4a0baa3e52ca'


def test_gopro_network_has_the_official_parameter_count_and_key_layout():
    net = VDDiffNet()  # the GoPro S3 configuration
    # the official module counts 13,254,323 = LE 1,146,688 + DM 1,316,416 + WADT 10,791,219;
    # its WADT includes the frozen Haar filters (1,024) and the never-called
    # transformer_scale4.output (73,728), which this network does not build
    assert (count(net.le), count(net.dm), count(net.wadt)) == (1146688, 1316416, 10716467)
    assert count(net) + 1024 + 73728 == 13254323
    assert net.official_num_params() == 13254323
    official = ours_to_official(net.state_dict())['params']
    lines = '\n'.join(f'{k} {tuple(v.shape)}' for k, v in sorted(official.items()))
    assert len(official) == 657
    assert hashlib.sha256(lines.encode()).hexdigest() == OFFICIAL_LAYOUT_SHA
    skip = ('DM.diffusion.model.', 'DM.diffusion.condition.') + tuple(
        f'DM.diffusion.{name}' for name in SCHEDULE_BUFFERS)  # duplicates and buffers
    assert sum(v.numel() for k, v in official.items() if not k.startswith(skip)) == 13254323
    assert torch.equal(official['WADT.wave.haar_weights'], official_haar_weights(64))


@pytest.mark.parametrize('stage', ['s1', 's3'])
def test_convert_round_trip_and_strict_load(stage):
    net = tiny_net(stage)
    ours = net.state_dict()
    official = ours_to_official({'params': ours})
    assert set(official) == {'params'}
    off = official['params']
    has_dm = stage != 's1'
    assert any(k.startswith('DM.diffusion.betas') for k in off) == has_dm
    if has_dm:  # one module, two names
        assert off['DM.diffusion.model.resmlp.0.weight'] is off['DM.denoise.resmlp.0.weight']
    assert not torch.any(off['WADT.transformer_scale4.output.body.0.weight'])
    back = official_to_ours(official)
    assert set(back) == set(ours) and all(torch.equal(back[k], ours[k]) for k in ours)
    again = ours_to_official(back)['params']
    assert set(again) == set(off) and all(torch.equal(again[k], off[k]) for k in off)
    fresh = tiny_net(stage, seed=5)
    fresh.load_state_dict(back, strict=True)
    lq, gt = clip()
    net.eval(), fresh.eval()
    with torch.no_grad():
        g = [torch.Generator().manual_seed(2) for _ in range(2)]
        args = (lq, gt) if stage == 's1' else (lq, )
        assert torch.equal(net(*args, generator=g[0]), fresh(*args, generator=g[1]))


def test_convert_rejects_inconsistent_checkpoints():
    off = ours_to_official(tiny_net('s3').state_dict())['params']
    bad = dict(off, **{'DM.diffusion.model.resmlp.0.bias':
                       off['DM.denoise.resmlp.0.bias'] + 1})
    with pytest.raises(CheckpointConversionError, match='differs from its twin'):
        official_to_ours(bad)
    bad = dict(off, **{'DM.diffusion.posterior_mean_coef1':
                       off['DM.diffusion.posterior_mean_coef1'] * 2})
    with pytest.raises(CheckpointConversionError, match='linear schedule'):
        official_to_ours(bad)
    with pytest.raises(CheckpointConversionError, match='unexpected key'):
        official_to_ours(dict(off, **{'XX.weight': torch.zeros(1)}))
    with pytest.raises(CheckpointConversionError, match='Haar'):
        official_to_ours(dict(off, **{'WADT.wave.haar_weights':
                                      off['WADT.wave.haar_weights'] * 2}))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu():
    net = tiny_net('s3').eval()
    lq, _ = clip()
    prior = torch.randn(3, 16)
    with torch.no_grad():
        ref = net.wadt(lq, prior)
        out = net.cuda().wadt(lq.cuda(), prior.cuda()).cpu()
    assert torch.allclose(out, ref, atol=1e-4)
