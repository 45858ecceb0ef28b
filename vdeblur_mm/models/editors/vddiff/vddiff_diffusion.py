# Semantics of Chen-Rao/VD-Diff (ldm/ddpm.py, ldm/util2.py, S2_arch.py), MIT; THIRD_PARTY.md
"""VD-Diff's prior diffusion (the official ``DM``): a 4-step, x0-parameterised DDPM over the
per-frame prior vectors, conditioned by the condition encoder CE on the blurry frames.

Written with plain torch ops: diffusers/mmagic schedulers are built around an epsilon/v UNet on
images with hundreds of steps; this chain has 4 steps with the LDM "linear" betas
``linspace(sqrt(0.1), sqrt(0.99), 4) ** 2``, an MLP that predicts x0 directly from
``cat[c, t / (10 T), x_t]``, no clipping, and a reverse step that returns the posterior mean
(the official ``p_sample`` draws a noise sample and discards it; here nothing is drawn). In
training the chain starts from ``q_sample`` of the stage-1 prior at ``t = T - 1`` and all T
steps run with gradients (the loss is on the result), at inference from Gaussian noise; both
draws take an optional ``torch.Generator``.
"""
import numpy as np
import torch
import torch.nn as nn

from ...layers.checks import check_tensor
from .vddiff_prior import PriorEncoder

#: the 12 schedule buffers the official ``DDPM`` stores (under ``DM.diffusion.``), in its order
SCHEDULE_BUFFERS = ('betas', 'alphas_cumprod', 'alphas_cumprod_prev', 'sqrt_alphas_cumprod',
                    'sqrt_one_minus_alphas_cumprod', 'log_one_minus_alphas_cumprod',
                    'sqrt_recip_alphas_cumprod', 'sqrt_recipm1_alphas_cumprod',
                    'posterior_variance', 'posterior_log_variance_clipped',
                    'posterior_mean_coef1', 'posterior_mean_coef2')


def prior_schedule(timesteps=4, linear_start=0.1, linear_end=0.99):
    """The official schedule: a dict of the :data:`SCHEDULE_BUFFERS` as float32 tensors of
    length ``timesteps``, computed in float64 as the official ``register_schedule`` does
    (``linear`` betas, ``v_posterior = 0``).

    With the defaults, betas ~ [0.1, 0.294286, 0.590952, 0.99] and alphas_cumprod ~
    [0.9, 0.635143, 0.259804, 0.002598].
    """
    if timesteps < 1:
        raise ValueError(f'timesteps must be at least 1, got {timesteps}')
    if not 0 < linear_start <= linear_end < 1:
        raise ValueError(f'need 0 < linear_start <= linear_end < 1, got {linear_start}, '
                         f'{linear_end}')
    betas = (torch.linspace(linear_start ** 0.5, linear_end ** 0.5, timesteps,
                            dtype=torch.float64) ** 2).numpy()
    alphas = 1. - betas
    ac = np.cumprod(alphas)
    ac_prev = np.append(1., ac[:-1])
    post_var = betas * (1. - ac_prev) / (1. - ac)
    values = (betas, ac, ac_prev, np.sqrt(ac), np.sqrt(1. - ac), np.log(1. - ac),
              np.sqrt(1. / ac), np.sqrt(1. / ac - 1), post_var,
              np.log(np.maximum(post_var, 1e-20)), betas * np.sqrt(ac_prev) / (1. - ac),
              (1. - ac_prev) * np.sqrt(alphas) / (1. - ac))
    return {k: torch.tensor(v, dtype=torch.float32) for k, v in zip(SCHEDULE_BUFFERS, values)}


class DenoiseMLP(nn.Module):
    """The denoiser: ``cat[c, t / (10 T), x_t]`` (N, 2P + 1) -> Linear -> LeakyReLU, then
    ``num_layers`` times Linear(P, P) -> LeakyReLU (the official ``ResMLP`` has no residual),
    giving the predicted x0 (N, P).

    Args:
        prior_channels (int): P. Default: 256.
        num_layers (int): Hidden layers after the first (official ``n_denoise_res``).
            Default: 1.
        timesteps (int): T, for the time scaling ``t / (10 T)``. Default: 4.
    """

    def __init__(self, prior_channels=256, num_layers=1, timesteps=4):
        super().__init__()
        p = prior_channels
        self.time_scale = 1. / (10 * timesteps)
        self.fc_in = nn.Linear(2 * p + 1, p)
        self.fcs = nn.ModuleList([nn.Linear(p, p) for _ in range(num_layers)])
        self.act = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x, t, cond):
        """``x`` (N, P) the noisy prior at step ``t`` (int), ``cond`` (N, P)."""
        time = x.new_full((x.shape[0], 1), t * self.time_scale)
        h = self.act(self.fc_in(torch.cat([cond, time, x], 1)))
        for fc in self.fcs:
            h = self.act(fc(h))
        return h


class PriorDiffusion(nn.Module):
    """The prior diffusion DM: condition encoder + denoiser + the T-step reverse chain.

    ``forward(lq_frames, prior_start=None, generator=None)`` takes the blurry frames
    (N, 3, h, w) (frames of any clips, flattened) and returns ``(prior, steps)``: the prior
    (N, P) and the list of the T intermediate priors x_{T-2}, ..., x_0 (the last one is
    ``prior``). With ``prior_start`` (N, P) (training: the stage-1 prior of LE), the chain
    starts from ``q_sample(prior_start, T - 1)``; without, from standard Gaussian noise.

    Args:
        prior_channels (int): P. Default: 256.
        timesteps (int): T. Default: 4.
        linear_start (float): First beta. Default: 0.1.
        linear_end (float): Last beta. Default: 0.99.
        denoise_layers (int): Hidden layers of :class:`DenoiseMLP`. Default: 1.
        cond_mid_channels (int): Width of the condition encoder. Default: 64.
        cond_num_blocks (int): Residual blocks of the condition encoder. Default: 6.
        in_channels (int): Image channels. Default: 3.
    """

    def __init__(self, prior_channels=256, timesteps=4, linear_start=0.1, linear_end=0.99,
                 denoise_layers=1, cond_mid_channels=64, cond_num_blocks=6, in_channels=3):
        super().__init__()
        self.prior_channels, self.timesteps = prior_channels, timesteps
        self.condition = PriorEncoder(1, in_channels, cond_mid_channels, cond_num_blocks,
                                      prior_channels)
        self.denoise = DenoiseMLP(prior_channels, denoise_layers, timesteps)
        schedule = prior_schedule(timesteps, linear_start, linear_end)
        # recomputed from the config, not saved (convert.py writes the official copies)
        for name in ('sqrt_alphas_cumprod', 'sqrt_one_minus_alphas_cumprod',
                     'posterior_mean_coef1', 'posterior_mean_coef2'):
            self.register_buffer(name, schedule[name], persistent=False)

    def q_sample(self, x0, t, noise):
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, for an int step ``t``."""
        return self.sqrt_alphas_cumprod[t] * x0 + self.sqrt_one_minus_alphas_cumprod[t] * noise

    def posterior_mean(self, x0, x_t, t):
        """Mean of q(x_{t-1} | x_t, x0) (at ``t = 0`` it is ``x0``)."""
        return self.posterior_mean_coef1[t] * x0 + self.posterior_mean_coef2[t] * x_t

    def reverse(self, x, cond, denoise=None):
        """The T reverse steps from x_{T-1} = ``x``: each predicts x0 with ``denoise``
        (default: the MLP) and moves to the posterior mean. Returns the list of x_{T-2}..x_0."""
        denoise = self.denoise if denoise is None else denoise
        steps = []
        for t in reversed(range(self.timesteps)):
            x = self.posterior_mean(denoise(x, t, cond), x, t)
            steps.append(x)
        return steps

    def _noise(self, like, generator):
        return torch.randn(like.shape, generator=generator, device=like.device,
                           dtype=like.dtype)

    def forward(self, lq_frames, prior_start=None, generator=None):
        check_tensor(lq_frames, 'PriorDiffusion input', 4, '(N, 3, h, w)')
        cond = self.condition(lq_frames)
        if prior_start is not None:
            check_tensor(prior_start, 'prior_start', 2, f'(N, {self.prior_channels})',
                         (cond.shape[0], self.prior_channels))
            x = self.q_sample(prior_start, self.timesteps - 1, self._noise(prior_start,
                                                                           generator))
        else:
            x = self._noise(cond, generator)
        steps = self.reverse(x, cond)
        return steps[-1], steps


__all__ = ['DenoiseMLP', 'PriorDiffusion', 'SCHEDULE_BUFFERS', 'prior_schedule']
