# Semantics of Chen-Rao/VD-Diff (S1_arch.py, S2_arch.py, S3_arch.py), MIT; THIRD_PARTY.md
"""VD-Diff: the wavelet-aware dynamic transformer WADT and the network of the three training
stages (latent encoder LE, prior diffusion DM, WADT).

Differences from the official code, none of which changes the function (checked on converted
weights against the official network with a plain reference for its cupy op): one class for
the three stages (``stage``); the Haar transform is a function (no frozen ``haar_weights``
parameter) and the never-called ``transformer_scale4.output`` upsampler is not built, so the
GoPro network has 13,179,571 parameters where the official module counts 13,254,323
(+ 1,024 Haar filters + 73,728 unused); the diffusion's reverse steps draw no noise (the
official draws it and discards it); the schedule buffers are recomputed from the config, not
saved (``convert.py`` maps all of this).
"""
import torch.nn as nn
from mmagic.registry import MODELS
from mmengine.model import BaseModule

from ...layers.checks import check_video
from .vddiff_diffusion import PriorDiffusion
from .vddiff_ops import haar_downsample, haar_upsample
from .vddiff_prior import PriorEncoder
from .vddiff_propagation import GatedPropagation
from .vddiff_transformer import PriorTransformer, batch_to_frames, frames_to_batch

STAGES = ('s1', 's2', 's3')
OUTPUT_RESIDUALS = ('double', 'single')


def _band_convs(channels):
    """Two grouped 1x1 convs (one group per high-frequency band) with a LeakyReLU between."""
    return nn.Sequential(nn.Conv2d(3 * channels, 3 * channels, 1, groups=3),
                         nn.LeakyReLU(0.1, inplace=True),
                         nn.Conv2d(3 * channels, 3 * channels, 1, groups=3))


class WADT(nn.Module):
    """Wavelet-aware dynamic transformer: the restoration network, modulated by a prior.

    Per-frame conv 3 -> C; Haar level 1 (1/2): the high bands through grouped 1x1 convs; Haar
    level 2 (1/4): LL through the prior-modulated transformer, the high bands through grouped
    1x1 convs; inverse Haar to 1/2; backward then forward propagation; inverse Haar with the
    level-1 bands to full size; per-frame conv C -> 3, plus the input.

    ``forward(lq, prior)``: ``lq`` (n, t, 3, h, w), h and w multiples of 16; ``prior``
    (n * t, P) (frame order). Returns (n, t, 3, h, w).

    Args:
        in_channels (int): Image channels. Default: 3.
        mid_channels (int): Feature channels C (official ``num_feat``). Default: 64.
        num_blocks (tuple[int]): Transformer blocks per level. Default: (7, 2).
        heads (tuple[int]): Attention heads per level. Default: (4, 8).
        propagation_blocks (int): Residual blocks per propagation step. Default: 30.
        prior_channels (int): Length of the prior vector P. Default: 256.
        ffn_expansion (float): Transformer FFN expansion. Default: 2.66.
        bias (bool): Biases of the transformer's convs. Default: False.
    """

    def __init__(self, in_channels=3, mid_channels=64, num_blocks=(7, 2), heads=(4, 8),
                 propagation_blocks=30, prior_channels=256, ffn_expansion=2.66, bias=False):
        super().__init__()
        c = mid_channels
        self.feat_extractor = nn.Conv3d(in_channels, c, (1, 3, 3), padding=(0, 1, 1))
        self.hf1_convs = _band_convs(c)
        self.hf2_convs = _band_convs(c)
        self.transformer = PriorTransformer(c, num_blocks, heads, prior_channels,
                                            ffn_expansion, bias)
        self.backward_prop = GatedPropagation(c, propagation_blocks, reverse=True)
        self.forward_prop = GatedPropagation(c, propagation_blocks)
        self.recons = nn.Conv3d(c, in_channels, (1, 3, 3), padding=(0, 1, 1))

    def forward(self, lq, prior):
        n, t = lq.shape[:2]
        feat = frames_to_batch(self.feat_extractor(lq.transpose(1, 2)))  # (n t, C, h, w)
        ll1, hf1 = haar_downsample(feat)  # 1/2
        hf1 = self.hf1_convs(hf1)
        ll2, hf2 = haar_downsample(ll1)  # 1/4
        ll2 = frames_to_batch(self.transformer(batch_to_frames(ll2, n), prior))
        ll1 = haar_upsample(ll2, self.hf2_convs(hf2))  # 1/2
        ll1 = self.forward_prop(self.backward_prop(ll1.view(n, t, *ll1.shape[1:])))
        feat = haar_upsample(ll1.flatten(0, 1), hf1)  # full size
        return self.recons(batch_to_frames(feat, n)).transpose(1, 2) + lq


@MODELS.register_module()
class VDDiffNet(BaseModule):
    """VD-Diff: video deblurring with a wavelet-aware dynamic transformer and a diffusion prior.

    Paper: Rethinking Video Deblurring with Wavelet-Aware Dynamic Transformer and Diffusion
    Model (ECCV 2024).

    A per-frame prior vector modulates the transformer blocks of WADT. It comes from the latent
    encoder LE on the blurry and sharp frames in stage 1 (``stage='s1'``, LE + WADT trained
    jointly; needs ``gt`` also at test time, as the official stage-1 test does), and from the
    prior diffusion DM (a T-step x0-parameterised diffusion conditioned by an encoder of the
    blurry frames) in stages 2 (DM trained to match LE's prior; in training WADT is not run)
    and 3 (all trained through DM's prior; LE's prior only starts the diffusion chain).
    Frames are RGB in [0, 1]. H and W must be multiples of 16 (padding is the model wrapper's
    job: see ``inference_spec``).

    Args:
        stage (str): 's1', 's2' or 's3' (see above); 's1' builds no DM. Default: 's3'.
        in_channels (int): Image channels. Default: 3.
        mid_channels (int): WADT feature channels (official ``num_feat``). Default: 64.
        num_blocks (tuple[int]): Transformer blocks per level. Default: (7, 2).
        heads (tuple[int]): Transformer heads per level. Default: (4, 8).
        propagation_blocks (int): Residual blocks per propagation step. Default: 30.
        prior_channels (int): Length of the prior vector. Default: 256.
        encoder_channels (int): Width of LE and of DM's condition encoder (official
            ``n_feats``). Default: 64.
        encoder_blocks (int): Residual blocks of LE and of the condition encoder. Default: 6.
        denoise_layers (int): Hidden layers of the denoiser MLP (official ``n_denoise_res``).
            Default: 1.
        timesteps (int): Diffusion steps T. Default: 4.
        linear_start (float): First beta. Default: 0.1.
        linear_end (float): Last beta. Default: 0.99.
        ffn_expansion (float): Transformer FFN expansion. Default: 2.66.
        bias (bool): Biases of the transformer's convs. Default: False.
        output_residual (str): 'double': output = net + 2 * lq, as the official code computes
            it (its WADT adds lq and its stage network adds lq again), for official weights;
            'single': net + lq. Default: 'double'.
        init_cfg (dict, optional): Initialisation config. Default: None.
    """

    inference_spec = dict(mode='sequence', size_multiple=16, min_size=16, chunk_frames=30)

    def __init__(self, stage='s3', in_channels=3, mid_channels=64, num_blocks=(7, 2),
                 heads=(4, 8), propagation_blocks=30, prior_channels=256, encoder_channels=64,
                 encoder_blocks=6, denoise_layers=1, timesteps=4, linear_start=0.1,
                 linear_end=0.99, ffn_expansion=2.66, bias=False, output_residual='double',
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES} ('s1': prior from LE(lq, gt); "
                             f"'s2'/'s3': prior from the diffusion), got {stage!r}")
        if output_residual not in OUTPUT_RESIDUALS:
            raise ValueError(f'output_residual must be one of {OUTPUT_RESIDUALS}, got '
                             f'{output_residual!r}')
        self.stage, self.in_channels, self.output_residual = stage, in_channels, output_residual
        self.le = PriorEncoder(2, in_channels, encoder_channels, encoder_blocks, prior_channels)
        self.dm = None if stage == 's1' else PriorDiffusion(
            prior_channels, timesteps, linear_start, linear_end, denoise_layers,
            encoder_channels, encoder_blocks, in_channels)
        self.wadt = WADT(in_channels, mid_channels, num_blocks, heads, propagation_blocks,
                         prior_channels, ffn_expansion, bias)

    def official_num_params(self):
        """The parameter count of the official module with this configuration: ours plus the
        frozen Haar filters (4C x 1 x 2 x 2) and the never-called ``transformer_scale4.output``
        conv (2C x C x 3 x 3); the GoPro S3 network: 13,179,571 + 1,024 + 73,728 =
        13,254,323 (LE 1,146,688, DM 1,316,416, WADT 10,716,467 + 74,752 = 10,791,219)."""
        c = self.wadt.feat_extractor.out_channels
        return sum(p.numel() for p in self.parameters()) + 16 * c + 2 * c * c * 9

    def _check(self, lq, gt):
        check_video(lq, 'VD-Diff input', channels=self.in_channels)
        h, w = lq.shape[-2:]
        if h % 16 or w % 16:
            raise ValueError(f'VD-Diff input: height and width must be multiples of 16 (two '
                             f'Haar levels, kernels predicted at 1/16), got {h}x{w}; pad the '
                             f'frames (the model wrapper does) and crop the output')
        if gt is not None and gt.shape != lq.shape:
            raise ValueError(f'VD-Diff gt must have the shape of lq {tuple(lq.shape)}, got '
                             f'{tuple(gt.shape)}')
        if gt is None and (self.training or self.stage == 's1'):
            why = 'in training' if self.training else "in stage 's1' (LE sees the sharp frames)"
            raise ValueError(f'VD-Diff needs gt {why}')

    def _restore(self, lq, prior):
        out = self.wadt(lq, prior)
        return out + lq if self.output_residual == 'double' else out

    def forward(self, lq, gt=None, generator=None):
        """Restore a clip.

        Args:
            lq (Tensor): Blurry frames (n, t, 3, h, w).
            gt (Tensor, optional): Sharp frames (n, t, 3, h, w): needed in training and in
                stage 's1'.
            generator (torch.Generator, optional): Draws the diffusion's noise (the start of
                the chain at inference, the ``q_sample`` noise in training).

        Returns:
            Tensor | tuple: In eval mode the restored frames (n, t, 3, h, w). In training
            ``(output, priors)``: ``output`` as above (None in stage 's2', which trains the
            prior only) and a dict with ``le`` (n * t, P), LE's prior, and in stages 's2'/'s3'
            ``dm`` (n * t, P), the diffusion's prior, and ``dm_steps``, the list of its T
            intermediate priors (the last is ``dm``).
        """
        self._check(lq, gt)
        frames = lq.flatten(0, 1)  # (n t, 3, h, w)
        if not self.training and self.stage != 's1':
            return self._restore(lq, self.dm(frames, generator=generator)[0])
        prior_le = self.le(frames, gt.flatten(0, 1))
        if self.stage == 's1':
            out = self._restore(lq, prior_le)
            return (out, dict(le=prior_le)) if self.training else out
        prior_dm, steps = self.dm(frames, prior_le, generator)
        priors = dict(le=prior_le, dm=prior_dm, dm_steps=steps)
        out = None if self.stage == 's2' else self._restore(lq, prior_dm)
        return out, priors


__all__ = ['VDDiffNet', 'WADT']
