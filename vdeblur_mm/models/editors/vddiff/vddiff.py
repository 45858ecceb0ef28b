# Adapted from Chen-Rao/VD-Diff (S1/S2/S3_model.py: losses, stages, loading), MIT; THIRD_PARTY.md
"""VD-Diff model wrapper: the three training stages' losses and parameters, each stage started
from the previous one's checkpoint, seeded prior sampling at test time."""
import torch
from mmagic.registry import MODELS
from mmagic.structures import DataSample
from mmengine.logging import print_log
from mmengine.runner.checkpoint import _load_checkpoint

from ....utils.checkpoint import resolve_stage_checkpoint
from ...base_models import VideoDeblurEditor

#: what each stage optimises (the official ``setup_optimizers``): stage 2 only the diffusion
TRAINED_MODULES = dict(s1=('le', 'wadt'), s2=('dm', ), s3=('le', 'dm', 'wadt'))


@MODELS.register_module()
class VDDiffDeblur(VideoDeblurEditor):
    """VD-Diff (ECCV 2024) in three training stages, driven by the generator's ``stage``.

    Paper: Rethinking Video Deblurring with Wavelet-Aware Dynamic Transformer and Diffusion
    Model.

    - ``'s1'``: LE and WADT, the prior from LE(blurry, sharp); ``pixel_loss`` (Charbonnier) +
      ``fft_loss`` (0.1 x L1 of the rfft2 of every frame). Testing needs the sharp frames
      (LE sees them), as the official stage-1 validation.
    - ``'s2'``: the diffusion alone learns to produce LE's prior from the blurry frames:
      ``pixel_loss`` between the diffusion's prior and LE's (prior matching); LE and WADT are
      frozen (``requires_grad=False``: only DM's parameters are optimised, as the official).
    - ``'s3'``: everything, WADT modulated by the diffusion's prior (LE's prior only starts the
      diffusion chain); ``pixel_loss`` only (the official stage 3 has its FFT term commented
      out).

    Stages 2 and 3 start from the previous stage's checkpoint (``init_from``, loaded in
    ``init_weights``, which the Runner calls before training; a resumed run then loads its
    own state). The loading is strict: every key of the network must be in the checkpoint
    except those of the modules named in ``init_fresh`` (stage 2 from stage 1: ``('dm',)``,
    which stage 1 does not have), and the checkpoint may hold nothing else.

    Testing: whole sequences in 30-frame chunks without overlap, the last aligned to the end
    (each frame from one chunk; the official protocol, which scores the overlap of the last
    clip twice, is the dataset's ``clips=dict(frames=30)``); sizes padded to multiples of 16
    and cropped back. The diffusion starts each chunk from noise drawn by a generator seeded
    with ``prior_seed``: reproducible (the official draws unseeded noise).

    Args:
        generator (dict): Config of ``VDDiffNet``.
        pixel_loss (dict): Restoration loss of stages 1 and 3, prior-matching loss of stage 2.
            Default: Charbonnier (eps 1e-12, as BasicSR's).
        fft_loss (dict, optional): Frequency loss on the frames (stage 1: ``FFTL1Loss`` with
            weight 0.1). Default: None.
        init_from (str, optional): Checkpoint file, or work dir (its ``last_checkpoint``), of
            the previous stage. Default: None.
        init_fresh (tuple[str]): Sub-modules of the generator (``'le'``, ``'dm'``, ``'wadt'``)
            that start from their initialisation; the checkpoint must not hold them.
            Default: ().
        prior_seed (int): Seed of the diffusion's starting noise at test time. Default: 0.
        train_cfg, test_cfg, init_cfg, data_preprocessor: as :class:`VideoDeblurEditor`.
    """

    default_stitch_settings = dict(chunk_frames=30, chunk_overlap=0)

    def __init__(self, generator, pixel_loss=dict(type='CharbonnierLoss', loss_weight=1.0,
                                                  reduction='mean', eps=1e-12),
                 fft_loss=None, init_from=None, init_fresh=(), prior_seed=0,
                 train_cfg=None, test_cfg=None, init_cfg=None, data_preprocessor=None):
        super().__init__(generator=generator, pixel_loss=pixel_loss, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg,
                         data_preprocessor=data_preprocessor)
        self.stage = self.generator.stage
        self.fft_loss = MODELS.build(fft_loss) if fft_loss else None
        if self.fft_loss is not None and self.stage == 's2':
            raise ValueError("VD-Diff stage 's2' trains the prior only: fft_loss applies to "
                             "frames (stages 's1'/'s3')")
        modules = [m for m, _ in self.generator.named_children()]
        unknown = set(init_fresh) - set(modules)
        if unknown:
            raise ValueError(f'init_fresh names {sorted(unknown)}, not sub-modules of the '
                             f'generator {modules}')
        self.init_from, self.init_fresh, self.prior_seed = init_from, tuple(init_fresh), \
            prior_seed
        for name, module in self.generator.named_children():
            module.requires_grad_(name in TRAINED_MODULES[self.stage])

    # ------------------------------------------------------------------ weights
    def init_weights(self):
        super().init_weights()
        if self.init_from:
            self.load_previous_stage(self.init_from)

    def load_previous_stage(self, path):
        """Load the generator from the previous stage's checkpoint (see the class docstring).

        Raises:
            FileNotFoundError: no checkpoint at ``path``.
            ValueError: keys missing or unexpected (other than ``init_fresh``'s), or shapes
                that differ.
        """
        path = resolve_stage_checkpoint(
            path, f'VD-Diff stage {self.stage!r} starts from the previous stage',
            "train it first (configs/vddiff/vddiff-s1_*, then -s2_*) or set model.init_from",
            prefer_best=False)
        state = _load_checkpoint(path, map_location='cpu')
        state = state.get('state_dict', state)
        prefix = 'generator.'
        loaded = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not loaded:
            raise ValueError(f'{path} has no {prefix}* weights: not a VD-Diff checkpoint')
        expected = set(self.generator.state_dict())
        fresh = tuple(f'{m}.' for m in self.init_fresh)
        held_fresh = sorted(k for k in loaded if k.startswith(fresh))
        missing = sorted(k for k in expected - set(loaded) if not k.startswith(fresh))
        unexpected = sorted(set(loaded) - expected)
        if held_fresh or missing or unexpected:
            raise ValueError(
                f'{path} does not fit VD-Diff stage {self.stage!r} with init_fresh='
                f'{self.init_fresh}: missing {missing[:6]} ({len(missing)}), unexpected '
                f'{unexpected[:6]} ({len(unexpected)}), modules meant to start fresh but '
                f'held by the checkpoint {held_fresh[:6]} ({len(held_fresh)})')
        self.generator.load_state_dict(loaded, strict=False)  # exactness checked above
        print_log(f'VD-Diff stage {self.stage!r} initialised from {path} ({len(loaded)} '
                  f'tensors; fresh: {self.init_fresh or "none"})', 'current')

    # ------------------------------------------------------------------ training
    def _check_pair(self, inputs, gt):
        if gt is None or gt.shape != inputs.shape:
            got = None if gt is None else tuple(gt.shape)
            raise ValueError(f'VD-Diff trains on the sharp frames of every input frame '
                             f'(gt_img {tuple(inputs.shape)}), got gt_img {got}')

    def forward_tensor(self, inputs, data_samples=None, **kwargs):
        """The network's output: restored frames (n, t, 3, h, w); in training stage 's2' the
        diffusion's prior (n * t, P)."""
        gt = data_samples.gt_img if data_samples is not None and 'gt_img' in data_samples \
            else None
        if not self.training and self.stage != 's1':
            return self.generator(inputs, generator=self._prior_rng(inputs.device))
        out = self.generator(inputs, gt)
        if not self.training:
            return out
        return out[1]['dm'] if self.stage == 's2' else out[0]

    def forward_train(self, inputs, data_samples=None, **kwargs):
        """The losses of the generator's stage (see the class docstring)."""
        gt = data_samples.gt_img
        self._check_pair(inputs, gt)
        out, priors = self.generator(inputs, gt)
        if self.stage == 's2':
            return dict(loss_prior=self.pixel_loss(priors['dm'], priors['le']))
        losses = dict(loss_pix=self.pixel_loss(out, gt))
        if self.fft_loss is not None:
            losses['loss_fft'] = self.fft_loss(out.flatten(0, 1), gt.flatten(0, 1))
        return losses

    # ------------------------------------------------------------------ testing
    def _prior_rng(self, device):
        return torch.Generator(device=device).manual_seed(self.prior_seed)

    def run_network(self, x, context=None):
        """One padded chunk: stages 's2'/'s3' (n, t, 3, h, w) -> restored, the diffusion
        started from seeded noise; stage 's1' takes blurry and sharp frames concatenated on
        the channels (n, t, 6, h, w), so that both are chunked and padded alike."""
        if self.stage == 's1':
            c = self.generator.in_channels
            return self.generator(x[:, :, :c], x[:, :, c:])
        return self.generator(x, generator=self._prior_rng(x.device))

    def forward_inference(self, inputs, data_samples=None, **kwargs):
        if self.stage != 's1':
            return super().forward_inference(inputs, data_samples, **kwargs)
        gt = data_samples.gt_img if data_samples is not None and 'gt_img' in data_samples \
            else None
        if gt is None or gt.shape != inputs.shape:
            raise ValueError("a stage-'s1' VD-Diff takes its prior from the sharp frames: "
                             'testing it needs gt_img for every input frame; restoring needs '
                             "a stage-'s2'/'s3' model")
        with torch.no_grad():
            both = torch.cat([inputs, self.gt_like_inputs(gt, data_samples)], 2)
            out = self.stitcher().restore_video(both)
        out = self.data_preprocessor.destruct(out, data_samples)
        return DataSample(pred_img=out.cpu())


__all__ = ['TRAINED_MODULES', 'VDDiffDeblur']
