# Adapted from XPixelGroup/BasicSR (edvr_model.py) and open-mmlab/mmagic, Apache-2.0; THIRD_PARTY.md
"""EDVR model wrapper for video deblurring: TSA warm-up and whole-video sliding-window testing."""
import torch
from mmagic.registry import MODELS
from mmengine.logging import print_log

from ...base_models import VideoDeblurEditor
from ...layers.video import sliding_window


@MODELS.register_module()
class EDVRDeblur(VideoDeblurEditor):
    """EDVR model for video deblurring (sliding window: N frames in, the centre frame out).

    Paper: EDVR: Video Restoration with Enhanced Deformable Convolutional Networks (CVPRW 2019).

    Training: ``inputs`` (n, N, c, h, w), ``gt_img`` the sharp centre frame (n, c, h, w).
    With ``train_cfg=dict(tsa_iter=K)`` and a TSA generator, only the ``fusion`` (TSA)
    parameters train for the first K iterations, then all (as mmagic's ``EDVR`` and BasicSR's
    ``EDVRModel``; the other parameters get ``requires_grad=False``, so configs set
    ``find_unused_parameters = True`` for DDP). The iteration counter ``step_counter`` is saved
    in checkpoints, so a resumed run keeps the right phase; checkpoints without it (converted
    weights) load without a missing-key warning.

    Testing (``mode='predict'``, through :class:`VideoDeblurEditor`): a training-style window
    gives the centre frame (n, c, h, w); whole sequences (``gt_img`` of shape (n, T, c, h, w),
    or inputs with T != N frames) are restored frame by frame by sliding the N-frame window
    over the sequence with the borders padded by replicating the first/last frame (the official
    EDVR test), ``window_batch`` windows per network call, giving (n, T, c, h, w). H and W are
    padded (reflect) to the generator's ``inference_spec['size_multiple']`` and cropped back.

    Args:
        generator (dict): Config of the network (e.g. ``EDVRDeblurNet``).
        pixel_loss (dict): Config of the pixel loss.
        train_cfg (dict, optional): ``tsa_iter`` (int): iterations that train only the TSA
            fusion module; 0 or absent: no warm-up. Default: None.
        test_cfg (dict, optional): stitching settings (``StitchSettings``), e.g.
            ``window_batch`` (default 4): windows per network call; ``temporal_padding``
            ('replicate' (default) or 'reflection') at the sequence ends; ``tile``. Default: None.
        init_cfg (dict, optional): Initialisation config. Default: None.
        data_preprocessor (dict, optional): Data preprocessor config. Default: None.
    """

    def __init__(self,
                 generator,
                 pixel_loss,
                 train_cfg=None,
                 test_cfg=None,
                 init_cfg=None,
                 data_preprocessor=None):
        super().__init__(
            generator=generator,
            pixel_loss=pixel_loss,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg,
            data_preprocessor=data_preprocessor)
        self.num_frames = self.inference_spec.window_frames
        self.window_batch = self.stitch_settings.window_batch
        self.with_tsa = bool(getattr(self.generator, 'with_tsa', False))
        self.tsa_iter = int((self.train_cfg or {}).get('tsa_iter') or 0)
        self.register_buffer('step_counter', torch.zeros((), dtype=torch.long))
        self._tsa_frozen = []  # names of the parameters the warm-up froze

    def declare_inference(self):
        """The generator's contract, which must be a sliding window (N frames in, centre out)."""
        return self.window_generator_spec(
            "sliding-window generator (inference_spec mode 'window' with window_frames)")

    # ------------------------------------------------------------------ training
    def _update_tsa_warmup(self):
        """Freeze the non-fusion parameters during the first ``tsa_iter`` iterations."""
        warmup = self.with_tsa and int(self.step_counter) < self.tsa_iter
        if warmup and not self._tsa_frozen:
            for name, param in self.generator.named_parameters():
                if not name.startswith('fusion.') and param.requires_grad:
                    param.requires_grad_(False)
                    self._tsa_frozen.append(name)
            print_log(f'TSA warm-up: training only the fusion module until iteration '
                      f'{self.tsa_iter}', logger='current')
        elif not warmup and self._tsa_frozen:
            params = dict(self.generator.named_parameters())
            for name in self._tsa_frozen:
                params[name].requires_grad_(True)
            self._tsa_frozen = []
            print_log('TSA warm-up finished: training all parameters', logger='current')

    def forward_train(self, inputs, data_samples=None, **kwargs):
        """Loss of the centre-frame prediction.

        Args:
            inputs (Tensor): Frames of shape (n, t, c, h, w), t = ``num_frames``.
            data_samples (DataSample): Stacked samples with ``gt_img`` (n, c, h, w).

        Returns:
            dict: ``loss``.
        """
        self._update_tsa_warmup()
        self.step_counter += 1
        return super().forward_train(inputs, data_samples, **kwargs)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        # weights converted from other code bases have no iteration counter: keep ours
        if prefix + 'step_counter' in missing_keys:
            missing_keys.remove(prefix + 'step_counter')

    # ------------------------------------------------------------------ testing
    def forward_tensor(self, inputs, data_samples=None, **kwargs):
        """Centre frame (n, c, h, w) for N-frame windows; all frames (n, T, c, h, w) for
        clips of T != N frames (sliding window, no padding or tiling)."""
        if inputs.dim() == 5 and inputs.shape[1] != self.num_frames:
            s = self.stitch_settings
            return sliding_window(self.generator, inputs, self.num_frames, s.window_batch,
                                  s.temporal_padding)
        return self.generator(inputs, **kwargs)
