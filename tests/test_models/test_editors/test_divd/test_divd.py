"""DIVD: the UNet, the diffusion (training target, samplers on an analytic toy, seeding), the
model wrapper on whole videos of odd lengths and sizes, and the GoPro config at 144 px."""
import os.path as osp

import pytest
import torch
from mmagic.registry import MODELS
from mmagic.structures import DataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

from vdeblur_mm.models.editors.divd import DIVD, DIVDUNet, build_scheduler, sample, training_target

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))
TINY_UNET = dict(type='DIVDUNet', base_channels=16, channel_mults=(1, 2), num_res_blocks=1,
                 window_sizes=(2, 1), head_channels=16, norm_groups=8)
PRE = dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.])
SCHEDULE = dict(num_train_timesteps=100, beta_start=1e-3, beta_end=0.2, beta_schedule='linear',
                prediction_type='epsilon')


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('mmagic')


def tiny_model(**kwargs):
    cfg = dict(type='DIVD', generator=TINY_UNET, data_preprocessor=PRE, num_inference_steps=3,
               train_scheduler=dict(type='DDPMScheduler', **SCHEDULE))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def perturbed_unet():
    torch.manual_seed(0)
    net = DIVDUNet(**{k: v for k, v in TINY_UNET.items() if k != 'type'})
    with torch.no_grad():  # the zero-initialised outputs would hide the other layers
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return net


def test_unet_shapes_gradients_and_frame_mixing():
    net = perturbed_unet()
    noisy, blurry = torch.randn(2, 4, 3, 16, 24), torch.randn(2, 4, 3, 16, 24)
    out = net(noisy, blurry, torch.tensor([3, 70]))
    assert out.shape == (2, 4, 3, 16, 24)
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    # frames meet only in WTSA: changing frame 0 moves frame 3's output; the timestep matters
    with torch.no_grad():
        changed = blurry.clone()
        changed[:, 0] += 1
        assert (net(noisy, changed, torch.tensor([3, 70]))[:, 3] - out[:, 3]).abs().max() > 1e-6
        assert (net(noisy, blurry, torch.tensor([4, 70]))[0] - out[0]).abs().max() > 1e-6
        net_single = perturbed_unet()
        for m in net_single.modules():  # without attention, frames are independent
            if hasattr(m, 'qkv'):
                m.proj.weight.zero_()
                m.proj.bias.zero_()
        a = net_single(noisy, blurry, torch.tensor([3, 70]))
        b = net_single(noisy, changed, torch.tensor([3, 70]))
        assert torch.equal(a[:, 1:], b[:, 1:])


def test_unet_bad_input():
    net = DIVDUNet(**{k: v for k, v in TINY_UNET.items() if k != 'type'})
    x = torch.randn(1, 4, 3, 16, 16)
    with pytest.raises(ValueError, match='denoises 4 frames at once, got 3'):
        net(x[:, :3], x[:, :3], torch.tensor([1]))
    with pytest.raises(ValueError, match='multiple of 2'):
        net(x[..., :15], x[..., :15], torch.tensor([1]))
    with pytest.raises(ValueError, match='do not match'):
        net(x, x[..., :8], torch.tensor([1]))
    with pytest.raises(ValueError, match='one size per UNet level'):
        DIVDUNet(channel_mults=(1, 2), window_sizes=(4, 3, 2))
    with pytest.raises(ValueError, match='divisible by norm_groups'):
        DIVDUNet(base_channels=24, norm_groups=32)


def test_training_targets_of_each_parameterisation():
    clean, noise = torch.randn(2, 4, 3, 8, 8), torch.randn(2, 4, 3, 8, 8)
    t = torch.tensor([5, 60])
    for kind in ('epsilon', 'sample', 'v_prediction'):
        s = build_scheduler(dict(type='DDPMScheduler', **dict(SCHEDULE, prediction_type=kind)))
        target = training_target(s, clean, noise, t)
        a = s.alphas_cumprod[t].view(-1, 1, 1, 1, 1)
        expected = dict(epsilon=noise, sample=clean,
                        v_prediction=a.sqrt() * noise - (1 - a).sqrt() * clean)[kind]
        torch.testing.assert_close(target, expected)


@pytest.mark.parametrize('sampler,steps', [('DDIMScheduler', 10), ('DDIMScheduler', 100),
                                           ('DPMSolverMultistepScheduler', 10)])
def test_sampler_with_true_noise_predictor_recovers_clean_signal(sampler, steps):
    """Data = a point mass at x0: the exact noise predictor is (x_t - sqrt(a_t) x0) /
    sqrt(1 - a_t), and a deterministic sampler must end at x0 from any starting noise."""
    no_clip = dict(clip_sample=False) if sampler == 'DDIMScheduler' else {}
    s = build_scheduler(dict(type=sampler, **dict(SCHEDULE, num_train_timesteps=1000,
                                                  beta_start=1e-4, beta_end=0.02), **no_clip))
    x0 = torch.linspace(-0.9, 0.9, 64, dtype=torch.float64).view(1, 1, 64)
    a = s.alphas_cumprod.double()

    def eps(x, t):
        return (x - a[t].sqrt() * x0) / (1 - a[t]).sqrt()

    g = torch.Generator().manual_seed(3)
    out = sample(eps, x0.shape, s, steps, g, dtype=torch.float64)
    # DDIM's last step goes to alpha = 1; diffusers 0.24's DPM-Solver stops at t = 0, whose
    # noise level sqrt(1 - abar_0) = 0.01 it keeps
    tol = 1e-4 if sampler == 'DDIMScheduler' else 4 * (1 - a[0]).sqrt().item()
    torch.testing.assert_close(out, x0, atol=tol, rtol=0)


def test_ddim_on_gaussian_toy_follows_the_exact_flow():
    """Data ~ N(mu, s^2) per coordinate: E[eps | x_t] = b (x_t - a mu) / (a^2 s^2 + b^2) with
    a = sqrt(abar_t), b = sqrt(1 - abar_t), and the probability-flow ODE maps the starting
    noise z at T to mu + s (z - a_T mu) / sqrt(a_T^2 s^2 + b_T^2). DDIM (its first-order
    discretisation) converges to that map as the steps grow."""
    s = build_scheduler(dict(type='DDIMScheduler', num_train_timesteps=1000, beta_start=1e-4,
                             beta_end=0.02, beta_schedule='linear', clip_sample=False))
    mu, sd = 0.3, 0.5
    abar = s.alphas_cumprod.double()

    def eps(x, t):
        a, b = abar[t].sqrt(), (1 - abar[t]).sqrt()
        return b * (x - a * mu) / (a * a * sd * sd + b * b)

    errors = []
    for steps in (50, 200):
        out = sample(eps, (2000, ), s, steps, torch.Generator().manual_seed(0),
                     dtype=torch.float64)
        z = torch.randn(2000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        a_t, b_t = abar[s.timesteps[0]].sqrt(), (1 - abar[s.timesteps[0]]).sqrt()
        exact = mu + sd * (z - a_t * mu) / (a_t * a_t * sd * sd + b_t * b_t).sqrt()
        errors.append((out - exact).abs().max().item())
    assert errors[1] < 0.03 and errors[1] < errors[0] / 3


def test_sampling_is_seeded_and_configurable():
    x = torch.rand(1, 4, 3, 16, 16)
    ddpm = dict(type='DDPMScheduler', **SCHEDULE)
    for test_scheduler in (None, ddpm):  # DDIM (deterministic steps) and DDPM (noisy steps)
        model = tiny_model(test_scheduler=test_scheduler)
        model.generator = perturbed_unet()
        with torch.no_grad():
            a, b = model(x, mode='tensor'), model(x, mode='tensor')
            model.sample_seed = 1
            c = model(x, mode='tensor')
        assert torch.equal(a, b) and (a - c).abs().max() > 1e-3
        assert a.shape == x.shape and 0 <= a.min() and a.max() <= 1


def test_test_scheduler_must_share_the_training_schedule():
    other = dict(type='DDIMScheduler', **dict(SCHEDULE, beta_end=0.1))
    with pytest.raises(ValueError, match='training noise schedule'):
        tiny_model(test_scheduler=other)
    with pytest.raises(ValueError, match='num_inference_steps'):
        tiny_model(num_inference_steps=1000)
    with pytest.raises(ValueError, match='takes no'):
        model = tiny_model(step_kwargs=dict(bogus=1))
        model(torch.rand(1, 4, 3, 8, 8), mode='tensor')


def test_training_loss_and_bad_clips():
    model = tiny_model()
    x, gt = torch.rand(2, 4, 3, 16, 16), torch.rand(2, 4, 3, 16, 16)
    loss = model.forward_train(x, DataSample(gt_img=gt))['loss_pix']
    loss.backward()
    assert loss.item() > 0
    with pytest.raises(ValueError, match='exactly 4 frames'):
        model.forward_train(x[:, :3], DataSample(gt_img=gt[:, :3]))
    with pytest.raises(ValueError, match='sharp frame of every input frame'):
        model.forward_train(x, DataSample(gt_img=gt[:, :2]))


@pytest.mark.parametrize('frames,size', [(5, (13, 17)), (3, (9, 20)), (7, (16, 11))])
def test_whole_videos_of_odd_lengths_and_sizes(frames, size):
    model = tiny_model()
    model.generator = perturbed_unet()
    x = torch.rand(1, frames, 3, *size)
    out = model.restore_video(x)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    pred = model.forward_inference(x, DataSample(gt_img=x * 255)).pred_img
    assert pred.shape == x.shape and pred.max() <= 255 and pred.min() >= 0


def test_overlapping_clips_are_averaged():
    """4-frame clips overlapping by 2 on a 6-frame video: clips start at 0 and 2, frames 2-3
    are the mean of both clips."""
    model = tiny_model()
    calls = []

    def fake(x, context=None):
        calls.append(x.shape[1])
        return torch.full_like(x, float(len(calls)))

    model.run_network = fake
    out = model.restore_video(torch.rand(1, 6, 3, 8, 8))
    assert calls == [4, 4]
    values = out[0, :, 0, 0, 0].tolist()
    assert values == [1, 1, 1.5, 1.5, 2, 2]


def test_gopro_config_one_denoising_step_at_144():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'divd', 'divd_c64_8xb2-1000k_gopro.py'))
    model = MODELS.build(cfg.model)
    spec = model.inference_spec
    assert (spec.mode, spec.window_frames, spec.size_multiple) == ('clip', 4, 8)
    assert model.stitch_settings.tile == 256 and model.stitch_settings.blend == 'average'
    x = torch.rand(1, 4, 3, 144, 144)
    with torch.no_grad():
        out = model.run_network(x, num_steps=1)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert isinstance(model, DIVD)
