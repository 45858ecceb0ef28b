"""DIVD model wrapper: DDPM training on F-frame clips, seeded sampling of whole videos through
the base's chunking (overlapping F-frame clips, overlaps averaged) and tiles."""
import torch
from mmagic.registry import MODELS

from ...base_models import VideoDeblurEditor
from .divd_diffusion import (
    build_scheduler,
    check_num_steps,
    check_same_schedule,
    sample,
    training_target,
)

DEFAULT_SCHEDULE = dict(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02,
                        beta_schedule='linear', prediction_type='epsilon', clip_sample=True)


@MODELS.register_module()
class DIVD(VideoDeblurEditor):
    """DIVD (arXiv 2412.00773): a conditional video diffusion model for deblurring.

    The denoiser (``generator``, a :class:`DIVDUNet`) sees F noisy sharp frames concatenated
    with their F blurry frames and predicts the noise (or x0 / v, the scheduler's
    ``prediction_type``). Frames are mapped from the data preprocessor's [0, 1] to [-1, 1].

    - Training (DDPM): one timestep per clip drawn uniformly from the training schedule,
      ``x_t = scheduler.add_noise(gt, noise, t)``, ``pixel_loss(prediction, target)`` (MSE:
      the DDPM 'simple' objective). Clips must have exactly F frames.
    - Testing: ``num_inference_steps`` of ``test_scheduler`` (DDIM by default; DDPM or
      DPM-Solver by config) from Gaussian noise drawn by a generator seeded with
      ``sample_seed`` for every F-frame clip (and tile): the same model, input and seed give
      the same frames. Whole videos are cut into F-frame clips overlapping by
      ``chunk_overlap`` frames (default 2), whose overlaps are averaged (``blend='average'``);
      videos shorter than F repeat their last frame; sizes are padded to the UNet's multiple
      and cropped back; ``test_cfg=dict(tile=..., tile_overlap=...)`` cuts large frames.

    Args:
        generator (dict): Config of the denoiser (``DIVDUNet``).
        pixel_loss (dict): Loss between prediction and target. Default: MSE.
        train_scheduler (dict): diffusers scheduler of the forward process. Default: DDPM,
            1000 steps, linear betas 1e-4..0.02, epsilon prediction.
        test_scheduler (dict, optional): The sampler; must share the forward-process
            settings. Default: DDIM on the training schedule.
        num_inference_steps (int): Sampling steps. Default: 50.
        sample_seed (int): Seed of the sampling noise. Default: 0.
        step_kwargs (dict, optional): Extra ``scheduler.step`` arguments (e.g. ``eta`` of
            DDIM). Default: None.
        train_cfg, test_cfg, init_cfg, data_preprocessor: as :class:`VideoDeblurEditor`.
    """

    default_stitch_settings = dict(chunk_overlap=2, blend='average')

    def __init__(self, generator, pixel_loss=dict(type='MSELoss', loss_weight=1.0),
                 train_scheduler=dict(type='DDPMScheduler', **DEFAULT_SCHEDULE),
                 test_scheduler=None, num_inference_steps=50, sample_seed=0, step_kwargs=None,
                 train_cfg=None, test_cfg=None, init_cfg=None, data_preprocessor=None):
        super().__init__(generator=generator, pixel_loss=pixel_loss, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg,
                         data_preprocessor=data_preprocessor)
        self.train_scheduler = build_scheduler(train_scheduler)
        if test_scheduler is None:
            test_scheduler = dict(train_scheduler, type='DDIMScheduler')
        self.test_scheduler = build_scheduler(test_scheduler)
        check_same_schedule(self.train_scheduler, self.test_scheduler)
        self.num_inference_steps = int(num_inference_steps)
        check_num_steps(self.num_inference_steps, self.train_scheduler)  # fail at build
        self.sample_seed = sample_seed
        self.step_kwargs = dict(step_kwargs or {})

    def declare_inference(self):
        return dict(mode='clip', window_frames=self.generator.num_frames,
                    size_multiple=self.generator.size_multiple)

    # ------------------------------------------------------------------ training
    def _check_clip(self, inputs, gt=None):
        f = self.generator.num_frames
        if inputs.dim() != 5 or inputs.shape[1] != f:
            raise ValueError(f'DIVD trains on clips of exactly {f} frames (n, {f}, 3, h, w), got '
                             f'inputs {tuple(inputs.shape)}: set the dataset\'s '
                             f'num_input_frames={f}')
        if gt is not None and gt.shape != inputs.shape:
            raise ValueError(f'DIVD needs the sharp frame of every input frame: gt_img '
                             f'{tuple(gt.shape)} for inputs {tuple(inputs.shape)}')

    def forward_train(self, inputs, data_samples=None, **kwargs):
        """The DDPM loss of one batch of F-frame clips (see the class docstring)."""
        gt = data_samples.gt_img if data_samples is not None and 'gt_img' in data_samples \
            else None
        if gt is None:
            raise ValueError('DIVD training needs gt_img (the sharp frames)')
        self._check_clip(inputs, gt)
        clean, blurry = gt * 2 - 1, inputs * 2 - 1
        noise = torch.randn_like(clean)
        steps = self.train_scheduler.config.num_train_timesteps
        t = torch.randint(0, steps, (clean.shape[0], ), device=clean.device)
        noisy = self.train_scheduler.add_noise(clean, noise, t)
        target = training_target(self.train_scheduler, clean, noise, t)
        return dict(loss_pix=self.pixel_loss(self.generator(noisy, blurry, t), target))

    def forward_tensor(self, inputs, data_samples=None, **kwargs):
        """Sampled sharp frames of one F-frame clip (n, F, 3, h, w), h and w multiples of the
        UNet's ``size_multiple`` (whole videos: ``restore_video``)."""
        self._check_clip(inputs)
        return self.run_network(inputs)

    # ------------------------------------------------------------------ sampling
    def sample_generator(self, device):
        return torch.Generator(device=device).manual_seed(self.sample_seed)

    def run_network(self, x, context=None, num_steps=None):
        """One padded F-frame clip (tile) (n, F, 3, h, w) in [0, 1] -> sampled sharp frames."""
        blurry = x * 2 - 1
        steps = self.num_inference_steps if num_steps is None else num_steps

        def denoise(noisy, t):
            return self.generator(noisy, blurry, t)  # one t for every clip

        out = sample(denoise, blurry.shape, self.test_scheduler, steps,
                     self.sample_generator(x.device), x.device, x.dtype, **self.step_kwargs)
        return ((out + 1) / 2).clamp(0, 1)


__all__ = ['DEFAULT_SCHEDULE', 'DIVD']
