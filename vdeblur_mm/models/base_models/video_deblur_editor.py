"""The base of every video model of this package: one test/inference path for all of them."""
from typing import Optional

import torch
from mmagic.models import BaseEditModel
from mmagic.structures import DataSample

from ..layers.checks import check_video
from ..layers.stitching import InferenceSpec, StitchSettings, VideoStitcher, resolve_inference_spec


class VideoDeblurEditor(BaseEditModel):
    """Base video restoration model: owns the whole test / inference path.

    A subclass declares its inference contract once, by overriding :meth:`declare_inference`
    (or through its generator's ``inference_spec``); a model that declares nothing fails when it
    is built. ``test_cfg=dict(inference_spec=dict(...))`` in a config updates the declaration;
    the other ``test_cfg`` keys named in :class:`StitchSettings` (``chunk_frames``,
    ``chunk_overlap``, ``tile``, ``tile_overlap``, ``blend``, ``amp``, ``window_batch``,
    ``temporal_padding``) set how whole videos are cut.

    Testing (``mode='predict'``, i.e. ``val_step``/``test_step``): whole sequences
    (n, T, c, h, w) go through :class:`VideoStitcher` — overlapping temporal chunks, spatial
    tiles, padding to the contract's size multiple and cropping back — giving (n, T, c, h', w');
    a single-frame ``gt_img`` (n, c, h, w), or no ``gt_img`` with a window model given exactly
    one window, asks for the centre frame only. ``tools/deblur_video.py`` and the inferencer run
    the same stitcher on streams, so every entry point gives the same frames.

    Subclasses adapt the network call through hooks: :meth:`run_network` (one padded tile of a
    chunk, or one window), :meth:`prepare_chunk` (once per chunk on whole frames, e.g. optical
    flow), :meth:`crop_context`, and optionally ``run_centre(x, context)`` (the centre frame
    only, for models that can skip the rest; see :class:`VideoStitcher`).
    """

    #: Stitching defaults of the model (e.g. its paper's test procedure); ``test_cfg`` wins.
    default_stitch_settings: dict = {}

    #: Subclasses whose contract depends on modules they build after ``super().__init__``
    #: (the cascade's stage 1) set this to False and call :meth:`setup_inference` themselves.
    contract_in_base_init = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.contract_in_base_init:
            self.setup_inference()

    def setup_inference(self):
        """Resolve the contract and the stitching settings (raises if nothing declares one)."""
        self.inference_spec = resolve_inference_spec(self, self.declare_inference())
        self.stitch_settings = StitchSettings.resolve(self.inference_spec, self.test_cfg,
                                                      self.default_stitch_settings)

    # ------------------------------------------------------------------ contract
    def declare_inference(self) -> Optional[dict]:
        """The inference contract (keys of :class:`InferenceSpec`); by default the generator's
        ``inference_spec``. Override in models whose contract is not their generator's."""
        return getattr(self.generator, 'inference_spec', None)

    def window_generator_spec(self, wanted, window_frames=None) -> dict:
        """The generator's contract, which must be a sliding window (N frames in, centre out;
        exactly ``window_frames`` when given); ``wanted`` names such a generator in the error."""
        spec = getattr(self.generator, 'inference_spec', None) or {}
        frames = spec.get('window_frames')
        if spec.get('mode') != 'window' or not frames or (
                window_frames is not None and frames != window_frames):
            raise ValueError(f'{self.__class__.__name__} needs a {wanted}, got inference_spec '
                             f'{spec}')
        return spec

    # ------------------------------------------------------------------ hooks
    def run_network(self, x, context=None):
        """The network on one padded tile of a chunk (sequence/clip models: (n, t, c, h, w) ->
        (n, t, c, h', w')) or on windows (window models: (n, N, c, h, w) -> (n, c, h', w'))."""
        return self.generator(x)

    def prepare_chunk(self, x):
        """Computed once per padded chunk (n, t, c, h, w) before tiling; default: nothing."""
        return None

    def crop_context(self, context, y0, x0, th, tw):
        """The part of ``prepare_chunk``'s result that belongs to one tile."""
        return context

    # ------------------------------------------------------------------ stitching
    def stitcher(self, **overrides) -> VideoStitcher:
        """The stitcher of this model; ``overrides`` (None values ignored) replace settings."""
        settings = StitchSettings.resolve(self.inference_spec, self.test_cfg,
                                          self.default_stitch_settings, **overrides)
        return VideoStitcher(self.inference_spec, settings, self.run_network, self.prepare_chunk,
                             self.crop_context, getattr(self, 'run_centre', None))

    def restore_video(self, inputs):
        """Every frame of whole sequences (n, T, c, h, w) -> (n, T, c, h', w')."""
        check_video(inputs, 'inputs')
        return self.stitcher().restore_video(inputs)

    def restore_centre(self, inputs):
        """The centre frame (n, c, h', w') of one window/clip (n, t, c, h, w)."""
        check_video(inputs, 'inputs')
        return self.stitcher().restore_window(inputs)

    def wants_centre_frame(self, inputs, data_samples=None) -> bool:
        """Whether ``predict`` returns the centre frame only (see the class docstring)."""
        gt = data_samples.gt_img if data_samples is not None and 'gt_img' in data_samples \
            else None
        if gt is not None:
            return gt.dim() == 4
        spec = self.inference_spec
        return spec.mode == 'window' and inputs.shape[1] == spec.window_frames

    def gt_like_inputs(self, gt, data_samples):
        """The test-time ``gt_img`` (left by mmagic's preprocessor in [0, 255] and converted to
        BGR when it knew the order) normalised and ordered as the inputs, for models that see
        the sharp frames at test time (FMA-Net's stage 1, VD-Diff's stage 1)."""
        order = data_samples.metainfo.get('gt_img_output_channel_order')
        if isinstance(order, (list, tuple)):
            order = order[0]
        mean, std = (v.view(-1, 1, 1) for v in (self.data_preprocessor.mean,
                                                 self.data_preprocessor.std))
        gt = gt.to(mean)
        if order is not None and order.upper() == 'BGR':
            gt = gt.flip(-3)
        return (gt - mean) / std

    def forward_inference(self, inputs, data_samples=None, **kwargs):
        """Predictions for validation/testing: ``DataSample(pred_img=...)`` of shape
        (n, T, c, h', w') (whole sequences) or (n, c, h', w') (centre frame), de-normalised,
        on the CPU."""
        with torch.no_grad():
            out = self.restore_centre(inputs) if self.wants_centre_frame(inputs, data_samples) \
                else self.restore_video(inputs)
        out = self.data_preprocessor.destruct(out, data_samples)
        return DataSample(pred_img=out.cpu())


__all__ = ['VideoDeblurEditor', 'InferenceSpec', 'StitchSettings']
