# Adapted from KAIST-VICLab/FMA-Net (train.py: losses, training stages), MIT; THIRD_PARTY.md
"""FMA-Net model wrapper: both training stages' losses, NetD from stage 1, sliding-window test."""
import torch
import torch.nn.functional as F
from mmagic.registry import MODELS
from mmagic.structures import DataSample
from mmengine.logging import print_log
from mmengine.runner.checkpoint import _load_checkpoint

from ....utils.checkpoint import resolve_stage_checkpoint
from ...base_models import VideoDeblurEditor
from ...layers.video import window_indices

#: the official loss weights (experiment.cfg); ``net_d`` scales every NetD term in stage 2
DEFAULT_LOSS_WEIGHTS = dict(recon=1.0, hr_warp=0.1, flow=1e-4, ta_d=0.1, lr_warp=0.1, ta_r=0.1,
                            net_d=0.1)


def resolve_stage1_checkpoint(path):
    """A stage-1 checkpoint file, or the one a stage-1 work dir points to: its single
    ``best_*.pth`` (the official stage 2 starts from the best NetD), else ``last_checkpoint``.

    Raises:
        FileNotFoundError: nothing to load, with what to do about it.
    """
    return resolve_stage_checkpoint(
        path, 'stage 2 of FMA-Net starts NetD from a stage-1 checkpoint',
        'train stage 1 first (configs/fmanet/fmanet-stage1_*.py) or set model.init_net_d_from')


@MODELS.register_module()
class FMANetVSRDB(VideoDeblurEditor):
    """FMA-Net for joint x4 video super-resolution and deblurring, in two training stages.

    Paper: FMA-Net: Flow-Guided Dynamic Filtering and Iterative Feature Refinement with
    Multi-Attention for Joint Video Super-Resolution and Deblurring (CVPR 2024).

    Training data per sample (see ``configs/_base_/datasets/reds_vsrdb.py``): ``inputs`` the
    blurry LR window (n, T, 3, h, w); ``data_samples.gt_img`` the sharp HR window
    (n, T, 3, 4h, 4w); ``gt_lr`` the sharp LR window (n, T, 3, h, w) (the temporal-anchor
    targets); ``gt_flow`` the pseudo-GT flows (n, T, 2, h, w) from the centre frame to each
    frame (RAFT on the sharp LR frames, ``tools/generate_pseudo_flows.py``). All terms are L1:

    - stage 1 (``generator.stage=1``, NetD alone): ``recon`` (the FGDF reconstruction vs the
      blurry LR centre frame) + 0.1 ``hr_warp`` (the HR clip warped by NetD's image flow vs the
      HR centre frame) + 1e-4 ``flow`` (NetD's image flow vs the pseudo-GT) + 0.1 ``ta_d``
      (NetD's anchor vs the sharp LR frames: the temporal-anchor loss);
    - stage 2: ``pixel_loss`` (the output vs the HR centre frame) + ``net_d`` (0.1) x every
      stage-1 term + 0.1 ``lr_warp`` (the LR clip warped by NetR's image flow vs the blurry LR
      centre frame) + 0.1 ``ta_r``. NetD is fine-tuned: ``init_net_d_from`` loads it from stage
      1 (the Runner calls ``init_weights`` before training; a resumed run loads its own state).

    Testing: stage 2 restores every frame by sliding T-frame windows (border frames padded by
    repeating the first/last frame, ``temporal_padding`` of :class:`VideoDeblurEditor`), the
    paper's protocol; stage 1 predicts NetD's reconstruction of every blurry LR frame from the
    sharp HR frames, scored against the input (``gt_key='input'``), as the official stage-1
    validation.

    Args:
        generator (dict): Config of the network (``FMANet``).
        pixel_loss (dict): The stage-2 restoration loss. Default: L1, weight 1 (official).
        loss_weights (dict, optional): Overrides of ``DEFAULT_LOSS_WEIGHTS`` (keys ``recon``,
            ``hr_warp``, ``flow``, ``ta_d``, ``lr_warp``, ``ta_r``, ``net_d``). Default: None.
        init_net_d_from (str, optional): Stage-1 checkpoint (file, or work dir: its
            ``best_*.pth``, else ``last_checkpoint``) whose ``generator.net_d.*`` weights start
            NetD. Default: None.
        train_cfg, test_cfg, init_cfg, data_preprocessor: as :class:`VideoDeblurEditor`.
    """

    def __init__(self, generator, pixel_loss=dict(type='L1Loss', loss_weight=1.0),
                 loss_weights=None, init_net_d_from=None,
                 train_cfg=None, test_cfg=None, init_cfg=None, data_preprocessor=None):
        super().__init__(generator=generator, pixel_loss=pixel_loss, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg,
                         data_preprocessor=data_preprocessor)
        unknown = set(loss_weights or {}) - set(DEFAULT_LOSS_WEIGHTS)
        if unknown:
            raise ValueError(f'unknown FMA-Net loss weights {sorted(unknown)}; known: '
                             f'{sorted(DEFAULT_LOSS_WEIGHTS)}')
        self.loss_weights = {**DEFAULT_LOSS_WEIGHTS, **(loss_weights or {})}
        self.stage = self.generator.stage
        self.init_net_d_from = init_net_d_from

    # ------------------------------------------------------------------ weights
    def init_weights(self):
        super().init_weights()
        if not self.init_net_d_from:
            return
        path = resolve_stage1_checkpoint(self.init_net_d_from)
        state = _load_checkpoint(path, map_location='cpu')
        state = state.get('state_dict', state)
        prefix = 'generator.net_d.'
        net_d = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not net_d:
            raise ValueError(f'{path} has no {prefix}* weights: not an FMA-Net checkpoint')
        self.generator.net_d.load_state_dict(net_d, strict=True)
        print_log(f'FMA-Net NetD initialised from {path} ({len(net_d)} tensors)', 'current')

    # ------------------------------------------------------------------ training
    def forward_tensor(self, inputs, data_samples=None, **kwargs):
        """The restored HR centre frames (n, 3, 4h, 4w) of blurry LR windows."""
        return self.generator(inputs)

    def forward_train(self, inputs, data_samples=None, **kwargs):
        """The losses of the generator's stage (see the class docstring)."""
        w = self.loss_weights
        hr = data_samples.gt_img
        t = inputs.shape[1]
        c = t // 2
        if hr.dim() != 5 or hr.shape[1] != t:
            raise ValueError(f'FMA-Net trains on the {t} sharp HR frames of each window '
                             f'(gt_img (n, {t}, 3, H, W)), got gt_img {tuple(hr.shape)}')
        for key, what, tool in (('gt_lr', 'sharp LR frames (temporal-anchor loss)',
                                 "LoadVideoFrames(key='gt_lr')"),
                                ('gt_flow', 'pseudo-GT flows (flow loss)',
                                 'tools/generate_pseudo_flows.py and LoadPseudoFlows')):
            if key not in data_samples:
                raise ValueError(f'FMA-Net training needs the {what} as data_samples.{key}: '
                                 f'see {tool} in configs/_base_/datasets/reds_vsrdb.py')
        out = self.generator.forward_train(inputs, hr)
        d_scale = 1.0 if self.stage == 1 else w['net_d']
        lr_sharp, flows = data_samples.gt_lr, data_samples.gt_flow
        losses = dict(
            loss_recon=d_scale * w['recon'] * F.l1_loss(out['recon'], inputs[:, c]),
            loss_hr_warp=d_scale * w['hr_warp'] * F.l1_loss(
                out['hr_warp'], hr[:, c:c + 1].expand_as(out['hr_warp'])),
            loss_flow=d_scale * w['flow'] * F.l1_loss(out['image_flow'], flows),
            loss_ta_d=d_scale * w['ta_d'] * F.l1_loss(out['anchor_d'], lr_sharp))
        if self.stage == 2:
            losses['loss_pix'] = self.pixel_loss(out['output'], hr[:, c])
            losses['loss_lr_warp'] = w['lr_warp'] * F.l1_loss(
                out['lr_warp'], inputs[:, c:c + 1].expand_as(out['lr_warp']))
            losses['loss_ta_r'] = w['ta_r'] * F.l1_loss(out['anchor_r'], lr_sharp)
        return losses

    # ------------------------------------------------------------------ testing
    def reconstruct_blurry(self, inputs, hr_frames):
        """Stage 1's prediction: NetD's FGDF reconstruction of every blurry LR frame
        (n, T, 3, h, w) from the blurry LR (n, T, 3, h, w) and sharp HR (n, T, 3, 4h, 4w)
        frames, by sliding windows as the restoration."""
        n, length = inputs.shape[:2]
        window = self.generator.num_frames
        if hr_frames.dim() != 5 or hr_frames.shape[:2] != (n, length):
            raise ValueError(f'stage-1 FMA-Net testing needs every sharp HR frame of the clip '
                             f'(gt_img (n, {length}, 3, H, W)), got {tuple(hr_frames.shape)}')
        settings = self.stitch_settings
        per_call = max(1, settings.window_batch // n)
        outs = []
        for start in range(0, length, per_call):
            centres = range(start, min(length, start + per_call))
            idx = torch.tensor([window_indices(length, i, window, settings.temporal_padding)
                                for i in centres], device=inputs.device).flatten()
            lr = inputs[:, idx].flatten(0, 1).unflatten(0, (-1, window))
            hr = hr_frames[:, idx].flatten(0, 1).unflatten(0, (-1, window))
            recon = self.generator.forward_train(lr, hr)['recon']
            outs.append(recon.unflatten(0, (n, len(centres))))
        return torch.cat(outs, 1)

    def forward_inference(self, inputs, data_samples=None, **kwargs):
        if self.stage == 2:
            return super().forward_inference(inputs, data_samples, **kwargs)
        hr = data_samples.gt_img if data_samples is not None and 'gt_img' in data_samples \
            else None
        if hr is None:
            raise ValueError('a stage-1 FMA-Net (NetD alone) predicts the blurry LR frames from '
                             'the sharp HR ones: testing it needs gt_img; restoring needs a '
                             'stage-2 model')
        with torch.no_grad():
            out = self.reconstruct_blurry(inputs, self.gt_like_inputs(hr, data_samples))
        out = self.data_preprocessor.destruct(out, data_samples)
        return DataSample(pred_img=out.cpu())
