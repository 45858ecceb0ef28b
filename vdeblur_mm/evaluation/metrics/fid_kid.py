"""FID and KID of restored video frames against the sharp frames, with the Inception network
from a local file (no download).

mmagic's ``FrechetInceptionDistance`` is a generative metric (it samples its own images from a
generator and needs mmagic's generative loops) and mmagic has no KID; this metric collects the
Inception features of every scored frame of every clip in an ordinary test loop and computes
both at the end: FID with mmagic's ``FrechetInceptionDistance._calc_fid``, KID as the unbiased
MMD^2 with the cubic polynomial kernel ``(x.y / d + 1)^3`` averaged over random subsets
(Binkowski et al. 2018, as StyleGAN2-ADA's metrics compute it). The Inception is the one mmagic
uses by default for FID (``inception_style='StyleGAN'``): Tero Karras' TorchScript export of
the TF-slim Inception-v3 (``inception-2015-12-05.pt``), which takes uint8 RGB frames of any
size and returns 2048-d pool features with ``return_features=True``.
"""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch
from mmagic.evaluation.metrics import FrechetInceptionDistance
from mmagic.evaluation.metrics.base_sample_wise_metric import BaseSampleWiseMetric
from mmagic.registry import METRICS

from .video_metrics import VideoProtocolMixin

INCEPTION_FILE = 'inception-2015-12-05.pt'


def load_inception(path, device='cpu'):
    """Tero's TorchScript Inception from a local file; a clear error if it is not there."""
    if path is None or not osp.isfile(path):
        raise FileNotFoundError(
            f'FID/KID need the Inception network from a local file, but {path!r} does not '
            f'exist. Download the TorchScript {INCEPTION_FILE} (StyleGAN2-ADA\'s metrics, the '
            "one mmagic's FID uses) once and pass its path as inception_path.")
    try:
        model = torch.jit.load(path, map_location='cpu')
    except Exception as e:  # a corrupt or non-TorchScript file
        raise ValueError(f'{path} is not a TorchScript Inception network ({e})') from e
    return model.eval().to(device)


def kernel_inception_distance(fake, real, num_subsets=100, subset_size=1000, seed=0):
    """Unbiased MMD^2 between two feature sets (N, d) with the kernel (x.y / d + 1)^3, averaged
    over ``num_subsets`` random subsets of ``min(subset_size, N_fake, N_real)`` rows each."""
    fake, real = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    if fake.ndim != 2 or real.ndim != 2 or fake.shape[1] != real.shape[1]:
        raise ValueError(f'KID needs two (N, d) feature sets, got {fake.shape} and '
                         f'{real.shape}')
    m = min(subset_size, len(fake), len(real))
    if m < 2:
        raise ValueError(f'KID needs at least 2 frames in each set, got {len(fake)} and '
                         f'{len(real)}')
    d = fake.shape[1]
    rng = np.random.default_rng(seed)
    total = 0.
    for _ in range(num_subsets):
        x = fake[rng.choice(len(fake), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        kxx, kyy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        same = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        total += same - 2 * kxy.mean()
    return float(total / num_subsets)


@METRICS.register_module()
class VideoFIDKID(VideoProtocolMixin, BaseSampleWiseMetric):
    """FID and KID (lower is better) between the restored and the sharp frames of the whole
    test set (every scored frame of every clip is one image).

    Args:
        inception_path (str): Local TorchScript Inception (``inception-2015-12-05.pt``).
            Required: nothing is downloaded.
        exclude_frames (int): Frames not scored at each end of every clip. Default: 0.
        kid_subsets (int): Random subsets KID averages over. Default: 100.
        kid_subset_size (int): Frames per subset (at most the number of frames). Default: 1000.
        seed (int): Seed of the KID subsets. Default: 0.
        channel_order (str): 'auto' (mmagic's record, else RGB), 'rgb' or 'bgr'.
        device (str): Where Inception runs; default 'cuda' if available, else 'cpu'.
    """
    metric = 'FID'

    def __init__(self, inception_path: str, exclude_frames: int = 0, kid_subsets: int = 100,
                 kid_subset_size: int = 1000, seed: int = 0, channel_order: str = 'auto',
                 device: Optional[str] = None, gt_key='gt_img', pred_key='pred_img',
                 collect_device='cpu', prefix: Optional[str] = None):
        super().__init__(gt_key=gt_key, pred_key=pred_key, mask_key=None,
                         collect_device=collect_device, prefix=prefix)
        self._init_channel_order(channel_order)
        self.exclude_frames = exclude_frames
        self.kid_subsets, self.kid_subset_size, self.seed = kid_subsets, kid_subset_size, seed
        self.net_device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
        self.inception = load_inception(inception_path, self.net_device)

    @torch.no_grad()
    def features(self, frames, order='rgb'):
        """(N, 2048) features of (N, 3, H, W) frames in [0, 255] (rounded to uint8 as saved
        images are), channels in ``order``."""
        frames = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor)
                                 else frames)
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f'FID/KID score RGB frames (N, 3, H, W), got {tuple(frames.shape)}')
        if order == 'bgr':
            frames = frames.flip(1)
        images = frames.float().round().clamp(0, 255).to(torch.uint8).to(self.net_device)
        return self.inception(images, return_features=True).double().cpu().numpy()

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for data in data_samples:
            order = self.sample_channel_order(data)
            gt, pred = self._frame_pairs(data)
            self.results.append(dict(fake=self.features(pred, order),
                                     real=self.features(gt, order)))

    def compute_metrics(self, results):
        fake = np.concatenate([r['fake'] for r in results])
        real = np.concatenate([r['real'] for r in results])
        if len(fake) < 2:
            raise ValueError(f'FID/KID need at least 2 scored frames, got {len(fake)}')
        fid, _, _ = FrechetInceptionDistance._calc_fid(
            fake.mean(0), np.cov(fake, rowvar=False), real.mean(0), np.cov(real, rowvar=False))
        kid = kernel_inception_distance(fake, real, self.kid_subsets, self.kid_subset_size,
                                        self.seed)
        return dict(FID=fid, KID=kid, frames=float(len(fake)))


__all__ = ['INCEPTION_FILE', 'VideoFIDKID', 'kernel_inception_distance', 'load_inception']
