"""Two-stage cascade of video restorers: a second network refines the first one's output."""
import copy
import math
import os.path as osp
from contextlib import nullcontext

import torch
from mmagic.registry import MODELS
from mmengine.logging import print_log

from ....utils.checkpoint import load_checkpoint_file, unwrap_state_dict
from ...base_models import VideoDeblurEditor
from ...layers.stitching import resolve_inference_spec
from ...layers.video import sliding_window, window_indices


@MODELS.register_module()
class CascadeRestorer(VideoDeblurEditor):
    """Two-stage video restoration: stage 2 restores frames from stage 1's restored frames.

    Paper: EDVR: Video Restoration with Enhanced Deformable Convolutional Networks (two-stage
    strategy: a similar but shallower EDVR is cascaded to refine the first stage's output).

    Generic: stage 1 is any restorer model config of this package or mmagic (``EDVRDeblur``,
    ``BasicVSR``, ``CascadeRestorer``...) and stage 2 any generator; how each one is run comes
    from its ``inference_spec`` ('window': N frames in, the centre frame out, slid over the
    clip with replicate padding at the ends; 'sequence': T frames in, T out).

    - Training (``mode='loss'``), ``gt_img`` one frame (n, c, h, w): stage 1 restores the
      frames stage 2 needs around the clip centre, stage 2 restores the centre frame, the
      loss is on stage 2's output. A clip of N1 + N2 - 1 frames (stage-1 and stage-2 window
      sizes) gives stage 1 real neighbours for every frame stage 2 sees; with fewer, the clip
      ends are replicated. With ``gt_img`` (n, T, c, h, w) all T frames are restored.
    - ``mode='tensor'``: all T input frames restored, (n, T, c, h', w') (sequence semantics).
      The model declares the inference contract 'sequence' (sizes: what both stages need), so
      the stitcher feeds it whole chunks; a ``chunk_overlap`` of at least N1 + N2 - 2 frames
      makes chunk borders identical to whole-video results.
    - ``mode='predict'`` (:class:`VideoDeblurEditor`): whole sequences (all frames) or, for a
      single-frame ``gt_img``, the centre frame; H and W padded (reflect) and cropped back.

    With ``freeze_stage1`` (default) stage 1 runs in eval mode under ``no_grad`` and its
    parameters have ``requires_grad=False``: they get no gradients and the optimizer never
    changes them (stage-1 ``BatchNorm``/dropout stay in eval mode too).

    Args:
        stage1 (dict): Model config of stage 1 (e.g. ``dict(type='EDVRDeblur', ...)``). Its
            ``data_preprocessor`` must normalise as this model's does (both stages see the
            frames normalised by this model's preprocessor).
        generator (dict): Config of the stage-2 network.
        pixel_loss (dict): Config of the pixel loss on stage 2's output.
        stage1_checkpoint (str, optional): Checkpoint of the trained stage-1 model (mmengine
            ``state_dict`` or a bare state dict, keys as in the stage-1 model, e.g.
            ``generator.*``); a missing file raises ``FileNotFoundError``. It is loaded when
            the model is built and again in ``init_weights`` (which the Runner calls before
            training). Default: None.
        freeze_stage1 (bool): Keep stage 1 fixed. Default: True.
        train_cfg (dict, optional): Unused. Default: None.
        test_cfg (dict, optional): stitching settings (``StitchSettings``); ``window_batch``
            (default 4) is also the windows per call of a window-mode stage. Default: None.
        init_cfg (dict, optional): Initialisation config. Default: None.
        data_preprocessor (dict, optional): Data preprocessor config. Default: None.
    """

    contract_in_base_init = False  # the contract depends on stage 1, built below

    def __init__(self,
                 stage1,
                 generator,
                 pixel_loss,
                 stage1_checkpoint=None,
                 freeze_stage1=True,
                 train_cfg=None,
                 test_cfg=None,
                 init_cfg=None,
                 data_preprocessor=None):
        super().__init__(
            generator=generator,
            pixel_loss=pixel_loss,
            train_cfg=train_cfg,
            test_cfg=dict(test_cfg or {}),
            init_cfg=init_cfg,
            data_preprocessor=data_preprocessor)
        stage1 = copy.deepcopy(stage1)
        self._check_normalisation(stage1.get('data_preprocessor'), data_preprocessor)
        self.stage1 = MODELS.build(stage1)
        self.stage1_checkpoint = stage1_checkpoint
        self.freeze_stage1 = freeze_stage1
        self.spec1 = resolve_inference_spec(self.stage1)
        self.spec2 = resolve_inference_spec(self.generator)
        self.size_multiple = math.lcm(self.spec1.size_multiple, self.spec2.size_multiple)
        self.scale = self.spec1.scale * self.spec2.scale
        self.setup_inference()
        self.window_batch = self.stitch_settings.window_batch
        if stage1_checkpoint is not None:
            self.load_stage1()
        elif freeze_stage1:
            print_log('CascadeRestorer: stage 1 is frozen but no stage1_checkpoint is given; '
                      'it keeps its initial weights unless a cascade checkpoint is loaded',
                      logger='current', level=30)
        if freeze_stage1:
            self.stage1.requires_grad_(False)
            self.stage1.eval()

    def declare_inference(self):
        """'sequence' (T frames in, T out), at sizes both stages accept."""
        return dict(mode='sequence', size_multiple=self.size_multiple,
                    min_size=max(self.spec1.min_size, self.spec2.min_size), scale=self.scale)

    @staticmethod
    def _check_normalisation(stage1_pre, pre):
        keys = ('mean', 'std')
        if not stage1_pre or not pre:
            return
        for k in keys:
            a, b = stage1_pre.get(k), pre.get(k)
            if a is not None and b is not None and list(a) != list(b):
                raise ValueError(f'stage 1 data_preprocessor {k}={list(a)} differs from the '
                                 f'cascade\'s {k}={list(b)}: stage 1 would see frames '
                                 f'normalised differently from its training')

    # ------------------------------------------------------------------ weights
    def load_stage1(self):
        """Load ``stage1_checkpoint`` into stage 1 (all its parameters must be there)."""
        path = self.stage1_checkpoint
        if '://' not in path and not osp.isfile(path):
            raise FileNotFoundError(f'stage1_checkpoint {path} does not exist (train stage 1 '
                                    f'first, or set model.stage1_checkpoint=None when the '
                                    f'weights come from a whole cascade checkpoint)')
        state = unwrap_state_dict(load_checkpoint_file(path))
        if not isinstance(state, dict):
            raise ValueError(f'stage1_checkpoint {path} holds no state dict')
        result = self.stage1.load_state_dict(state, strict=False)
        params = dict(self.stage1.named_parameters())
        missing = [k for k in result.missing_keys if k in params]
        if missing or result.unexpected_keys:
            raise KeyError(f'stage1_checkpoint {path} does not fit the stage-1 model '
                           f'{self.stage1.__class__.__name__}: missing {missing[:8]}, '
                           f'unexpected {result.unexpected_keys[:8]}')
        print_log(f'CascadeRestorer: stage 1 loaded from {path}', logger='current')

    def init_weights(self):
        """Initialise, then (re)load the stage-1 checkpoint over stage 1's fresh weights."""
        super().init_weights()
        if self.stage1_checkpoint is not None:
            self.load_stage1()

    def train(self, mode=True):
        """Set the training mode; a frozen stage 1 stays in eval mode."""
        super().train(mode)
        if self.freeze_stage1:
            self.stage1.eval()
        return self

    # ------------------------------------------------------------------ stages
    def _stage1_frames(self, x, centres=None):
        """Stage-1 restoration of frames ``centres`` (default: all) of x (n, t, c, h, w)."""
        ctx = torch.no_grad() if self.freeze_stage1 else nullcontext()
        with ctx:
            if self.spec1.mode == 'window':
                return sliding_window(lambda w: self.stage1(w, mode='tensor'), x,
                                      self.spec1.window_frames, self.window_batch,
                                      centres=centres)
            out = self.stage1(x, mode='tensor')
            return out if centres is None else out[:, centres]

    def stages_centre(self, inputs):
        """Centre frame (n, c, h', w') of clips (n, t, c, h, w) through both stages."""
        t = inputs.shape[1]
        centre = t // 2
        if self.spec2.mode == 'sequence':
            return self.generator(self._stage1_frames(inputs))[:, centre]
        idx = window_indices(t, centre, self.spec2.window_frames)
        needed = sorted(set(idx))
        restored = self._stage1_frames(inputs, needed)
        return self.generator(restored[:, [needed.index(i) for i in idx]])

    def stages_all(self, inputs):
        """All frames (n, t, c, h', w') of clips (n, t, c, h, w) through both stages."""
        restored = self._stage1_frames(inputs)
        if self.spec2.mode == 'sequence':
            return self.generator(restored)
        return sliding_window(self.generator, restored, self.spec2.window_frames,
                              self.window_batch)

    # ------------------------------------------------------------------ stitcher hooks
    def run_network(self, x, context=None):
        return self.stages_all(x)

    def run_centre(self, x, context=None):
        return self.stages_centre(x)

    # ------------------------------------------------------------------ modes
    def forward_tensor(self, inputs, data_samples=None, **kwargs):
        """Every frame restored: (n, t, c, h', w') for inputs (n, t, c, h, w)."""
        return self.stages_all(inputs)

    def forward_train(self, inputs, data_samples=None, **kwargs):
        """Loss of stage 2's output against ``gt_img`` (centre frame or all frames)."""
        gt = data_samples.gt_img
        pred = self.stages_centre(inputs) if gt.dim() == 4 else self.stages_all(inputs)
        return dict(loss=self.pixel_loss(pred, gt))
