"""DIVD's diffusion: the DDPM training objective and seeded sampling with any of diffusers'
schedulers (DDPM, DDIM, DPM-Solver, ...), which mmagic registers in ``DIFFUSION_SCHEDULERS``.

The paper says "DDPM" and nothing more; the noise schedule, the parameterisation and the
sampler are ours and configurable (``configs/divd/README.md``). The schedulers are used as
diffusers defines them: ``add_noise`` for the forward process, ``set_timesteps`` + ``step``
for sampling; timesteps are passed as Python ints (diffusers indexes its CPU tables with them).
"""
import inspect

import torch
from mmagic.registry import DIFFUSION_SCHEDULERS

#: what defines the forward process: a sampler must share these with the training schedule
SCHEDULE_KEYS = ('num_train_timesteps', 'beta_start', 'beta_end', 'beta_schedule',
                 'trained_betas', 'prediction_type')


def build_scheduler(cfg):
    """A diffusers scheduler from a config dict (``type`` = its class name)."""
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f'a DIVD scheduler config is a dict with a type (e.g. '
                         f"dict(type='DDIMScheduler', ...)), got {cfg!r}")
    return DIFFUSION_SCHEDULERS.build(dict(cfg))


def schedule_of(scheduler):
    """The forward-process settings of a built scheduler (those of ``SCHEDULE_KEYS`` it has)."""
    config = scheduler.config
    return {k: config[k] for k in SCHEDULE_KEYS if k in config}


def check_same_schedule(train, test):
    """Sampling with another noise schedule than the one trained silently gives wrong frames:
    refuse it."""
    a, b = schedule_of(train), schedule_of(test)
    diff = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
    same_alphas = torch.allclose(train.alphas_cumprod, test.alphas_cumprod)
    if diff or not same_alphas:
        raise ValueError(f'DIVD: the test scheduler must use the training noise schedule; '
                         f'(train, test) differ in {diff or "their alphas_cumprod"}')


def training_target(scheduler, clean, noise, timesteps):
    """What the network learns to predict under the scheduler's ``prediction_type``."""
    kind = scheduler.config.prediction_type
    if kind == 'epsilon':
        return noise
    if kind == 'sample':
        return clean
    if kind == 'v_prediction':
        return scheduler.get_velocity(clean, noise, timesteps)
    raise ValueError(f"DIVD: unsupported prediction_type {kind!r} ('epsilon', 'sample', "
                     "'v_prediction')")


def check_num_steps(num_steps, scheduler):
    """Sampling steps must lie in [1, the scheduler's training timesteps]."""
    train_steps = scheduler.config.num_train_timesteps
    if not 1 <= num_steps <= train_steps:
        raise ValueError(f'DIVD: num_inference_steps must be in [1, {train_steps}] (the '
                         f'training timesteps), got {num_steps}')


def sample(denoise, shape, scheduler, num_steps, generator=None, device='cpu',
           dtype=torch.float32, **step_kwargs):
    """Run the reverse process from seeded Gaussian noise.

    Args:
        denoise (callable): ``denoise(x_t, t)`` -> the network's prediction (same shape);
            ``t`` a Python int.
        shape (tuple): Shape of the sample.
        scheduler: A diffusers scheduler (its state is reset by ``set_timesteps``).
        num_steps (int): Sampling steps.
        generator (torch.Generator, optional): Source of the starting noise and of every
            stochastic step (DDPM's variance noise): with it, sampling is reproducible.
        step_kwargs: Extra arguments of ``scheduler.step`` (e.g. ``eta`` of DDIM).

    Returns:
        Tensor: the last ``prev_sample`` (x_0).
    """
    check_num_steps(num_steps, scheduler)
    scheduler.set_timesteps(num_steps)
    accepts = inspect.signature(scheduler.step).parameters
    if 'generator' in accepts:
        step_kwargs = dict(step_kwargs, generator=generator)
    unknown = set(step_kwargs) - set(accepts)
    if unknown:
        raise ValueError(f'{type(scheduler).__name__}.step takes no {sorted(unknown)}')
    x = torch.randn(shape, generator=generator, device=device, dtype=dtype)
    x = x * scheduler.init_noise_sigma
    for t in scheduler.timesteps.tolist():
        x_in = scheduler.scale_model_input(x, t)
        x = scheduler.step(denoise(x_in, t), t, x, **step_kwargs).prev_sample
    return x


__all__ = ['SCHEDULE_KEYS', 'build_scheduler', 'check_num_steps', 'check_same_schedule', 'sample',
           'schedule_of', 'training_target']
