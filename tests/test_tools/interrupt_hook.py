"""Test hooks (imported by test configs): an early end as by a pre-emption, random draws during
training."""
from mmagic.registry import HOOKS
from mmengine.hooks import Hook


@HOOKS.register_module()
class InterruptTrainingHook(Hook):
    """Stop a run that started from iteration 0 after ``after_iters`` iterations (checkpoints
    of that iteration are written first); a resumed run is left alone."""

    priority = 'LOWEST'

    def __init__(self, after_iters):
        self.after_iters = after_iters
        self._started_at = None

    def before_train(self, runner):
        self._started_at = runner.iter

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self._started_at == 0 and runner.iter + 1 >= self.after_iters:
            runner.train_loop.stop_training = True


@HOOKS.register_module()
class NoisyInputsHook(Hook):
    """Add torch-random noise to each training batch: stands for the random draws a model makes
    inside its train step (diffusion noise, dropout), which only restored random states can
    repeat after a resume."""

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        import torch
        inputs = data_batch['inputs']
        for i, x in enumerate(inputs):
            noisy = x.float() + 8 * torch.randn(x.shape)
            inputs[i] = noisy.clamp(0, 255).round().to(x.dtype)
