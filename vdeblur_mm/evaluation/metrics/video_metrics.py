# Adapted from huicongzhang/BSSTNet (psnr_ssim.py), KAIST-VICLab/FMA-Net (utils.py); THIRD_PARTY.md
"""Video metrics with per-paper evaluation protocols.

mmagic's sample-wise metrics average a metric over the frames of each clip. The classes here add
what video-deblurring papers differ in: frames excluded at the clip borders (BSSTNet: 2 at each
end; FMA-Net: 1), border crop (FMA-Net: 4 px) and RGB vs Y (``convert_to``, ``y_weights``).

Channel order: mmagic's ``DataPreprocessor`` hands the evaluator BGR frames in validation and
testing (it converts ``gt_img`` to BGR, and ``destruct`` converts the predictions to BGR), and
records that as ``gt_img_output_channel_order``. With ``channel_order='auto'`` (the default) the
metrics read that record, so Y and grey conversions use the right weights; frames given without
it (direct calls) are taken as RGB.
"""
from typing import Optional, Sequence

import cv2
import numpy as np
import torch
from mmagic.evaluation.metrics import PSNR, SSIM
from mmagic.evaluation.metrics.base_sample_wise_metric import BaseSampleWiseMetric
from mmagic.evaluation.metrics.metrics_utils import obtain_data
from mmagic.evaluation.metrics.psnr import psnr
from mmagic.evaluation.metrics.ssim import ssim
from mmagic.registry import METRICS

CHANNEL_ORDERS = ('auto', 'rgb', 'bgr')
# 'bt601': ITU-R BT.601 luma of the true colours (mmcv's rgb2ycbcr), the standard Y-PSNR.
# 'fmanet_bgr': FMA-Net's utils.Y_PSNR, which applies the BT.601 R, G, B weights to the channels
# of cv2-loaded frames, i.e. to B, G, R: Y' = 0.2568 B + 0.5041 G + 0.0979 R. Only for
# comparing with the Y-PSNR FMA-Net (and papers copying its code) report.
Y_WEIGHTS = ('bt601', 'fmanet_bgr')


def select_frames(frames, exclude_frames, key=''):
    """Drop ``exclude_frames`` frames at each end of a (T, C, H, W) clip."""
    if exclude_frames <= 0:
        return frames
    t = frames.shape[0]
    if t <= 2 * exclude_frames:
        raise ValueError(f'{key} has {t} frames: nothing is left to score after excluding '
                         f'{exclude_frames} frames at each end')
    return frames[exclude_frames:t - exclude_frames]


class VideoProtocolMixin:
    """Score every frame of a clip, skipping ``exclude_frames`` at each end; report the mean
    over clips and each sequence's mean (``per_sequence``, default True).

    Images are (C, H, W) and clips (T, C, H, W), values in [0, 255] as mmagic's data
    preprocessor returns them.
    """

    exclude_frames = 0
    channel_order = 'auto'
    y_weights = 'bt601'

    def _init_channel_order(self, channel_order, y_weights='bt601'):
        if channel_order not in CHANNEL_ORDERS:
            raise ValueError(f'channel_order must be one of {CHANNEL_ORDERS}, got '
                             f'{channel_order!r}')
        if y_weights not in Y_WEIGHTS:
            raise ValueError(f'y_weights must be one of {Y_WEIGHTS}, got {y_weights!r}')
        if y_weights != 'bt601' and str(getattr(self, 'convert_to', None)).lower() != 'y':
            raise ValueError(f"y_weights={y_weights!r} only changes the Y conversion: use it "
                             "with convert_to='Y'")
        self.channel_order = channel_order
        self.y_weights = y_weights
        self._sample_order = 'rgb' if channel_order == 'auto' else channel_order

    def sample_channel_order(self, data):
        """'rgb' or 'bgr': the channel order of one sample's frames."""
        if self.channel_order != 'auto':
            return self.channel_order
        recorded = data.get('gt_img_output_channel_order')  # set by mmagic's DataPreprocessor
        if isinstance(recorded, (list, tuple)):
            recorded = recorded[0] if recorded else None
        if isinstance(recorded, str) and recorded.lower() in ('rgb', 'bgr'):
            return recorded.lower()
        return 'rgb'

    def _y_channel_order(self):
        """The order to tell mmagic's Y conversion: the true one (BT.601), or the reverse one
        (FMA-Net's weights on swapped channels)."""
        if self.y_weights == 'fmanet_bgr':
            return 'bgr' if self._sample_order == 'rgb' else 'rgb'
        return self._sample_order

    def _frame_pairs(self, data):
        gt = obtain_data(data, self.gt_key, self.device)
        pred = obtain_data(data['output'], self.pred_key, self.device)
        if gt.shape != pred.shape:
            raise ValueError(f"{data.get('key', 'sample')}: prediction shape "
                             f'{tuple(pred.shape)} differs from ground truth {tuple(gt.shape)}')
        if gt.ndim <= 3:
            return gt[None], pred[None]
        name = str(data.get('key', 'clip'))
        return (select_frames(gt, self.exclude_frames, name),
                select_frames(pred, self.exclude_frames, name))

    def add_result(self, data, value):
        """Record one clip's score with its sequence name (for the per-sequence report)."""
        self.results.append({self.metric: float(value), 'sequence': str(data.get('key', ''))})

    def compute_metrics(self, results):
        """The mean over clips (``metric``) and, with ``per_sequence``, each sequence's mean
        (``metric/<sequence>``), which ``--out`` files then hold as well."""
        values = np.array([r[self.metric] for r in results], dtype=np.float64)
        metrics = {self.metric: float(values.mean()) * self.scaling}
        if getattr(self, 'per_sequence', True):
            by_sequence = {}
            for r in results:
                if r.get('sequence'):
                    by_sequence.setdefault(r['sequence'], []).append(r[self.metric])
            for name, vals in by_sequence.items():
                metrics[f'{self.metric}/{name}'] = float(np.mean(vals)) * self.scaling
        return metrics

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for data in data_samples:
            self._sample_order = self.sample_channel_order(data)
            gt, pred = self._frame_pairs(data)
            mask = torch.ones_like(pred) if isinstance(pred, torch.Tensor) else np.ones_like(pred)
            values = [self.process_image(g, p, m) for g, p, m in zip(gt, pred, mask)]
            self.add_result(data, np.mean(values))


@METRICS.register_module()
class VideoPSNR(VideoProtocolMixin, PSNR):
    """PSNR per frame (mmagic's ``PSNR``) with border-frame exclusion.

    Args:
        exclude_frames (int): Frames not scored at each end of every clip. Default: 0.
        crop_border (int): Pixels cropped at each image edge. Default: 0.
        convert_to (str, optional): None for RGB, 'Y' for the luma channel. Default: None.
        channel_order (str): Channel order of the frames: 'auto' (what mmagic's data
            preprocessor recorded, else RGB), 'rgb' or 'bgr'. Default: 'auto'.
        y_weights (str): With ``convert_to='Y'``: 'bt601', the standard luma of the true
            colours; or 'fmanet_bgr', FMA-Net's ``Y_PSNR``, which applies the BT.601 RGB
            weights to BGR channels (0.2568 B + 0.5041 G + 0.0979 R), needed only to compare
            with the Y-PSNR it reports. Default: 'bt601'.
        Other args as in ``mmagic.evaluation.PSNR``.
    """
    metric = 'PSNR'

    def __init__(self, exclude_frames: int = 0, channel_order: str = 'auto',
                 y_weights: str = 'bt601', **kwargs):
        super().__init__(**kwargs)
        self.exclude_frames = exclude_frames
        # mmagic's metrics assume one fixed order for the Y conversion; the Y channel must be
        # computed from the actual order of each sample
        self._init_channel_order(channel_order, y_weights)

    def process_image(self, gt, pred, mask):
        return psnr(gt, pred, crop_border=self.crop_border, input_order=self.input_order,
                    convert_to=self.convert_to, channel_order=self._y_channel_order())


@METRICS.register_module()
class VideoSSIM(VideoProtocolMixin, SSIM):
    """SSIM per frame (mmagic's ``SSIM``) with border-frame exclusion. Args as ``VideoPSNR``,
    plus:

    Args:
        gaussian_3d (bool): BSSTNet's (and DSTNet's) ``ssim_calculate`` instead of the standard
            SSIM: frames rounded to uint8, scaled to [0, 1], statistics from a Gaussian filter
            (sigma 1.5, scipy's reflect borders) over the whole (3, H, W) array — so it also
            blurs across the colour channels — averaged over all pixels and channels. Needed
            to compare with the SSIM those papers report. Default: False.
    """
    metric = 'SSIM'

    def __init__(self, exclude_frames: int = 0, channel_order: str = 'auto',
                 y_weights: str = 'bt601', gaussian_3d: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.exclude_frames = exclude_frames
        self._init_channel_order(channel_order, y_weights)
        self.gaussian_3d = gaussian_3d
        if gaussian_3d and (self.crop_border or self.convert_to):
            raise ValueError('gaussian_3d SSIM is computed on whole RGB frames: use it without '
                             'crop_border and convert_to')

    def process_image(self, gt, pred, mask):
        if not self.gaussian_3d:
            return ssim(gt, pred, crop_border=self.crop_border, input_order=self.input_order,
                        convert_to=self.convert_to, channel_order=self._y_channel_order())
        return gaussian_3d_ssim(gt, pred)


def gaussian_3d_ssim(img1, img2, sigma=1.5, c1=0.01**2, c2=0.03**2):
    """BSSTNet's ``ssim_calculate`` on (C, H, W) frames in [0, 255]."""
    from scipy.ndimage import gaussian_filter

    def prep(img):
        if isinstance(img, torch.Tensor):
            img = img.detach().cpu().numpy()
        return np.clip(np.round(np.asarray(img, dtype=np.float64)), 0, 255) / 255

    x, y = prep(img1), prep(img2)
    mu_x, mu_y = gaussian_filter(x, sigma), gaussian_filter(y, sigma)
    var_x = gaussian_filter(x * x, sigma) - mu_x**2
    var_y = gaussian_filter(y * y, sigma) - mu_y**2
    cov = gaussian_filter(x * y, sigma) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) *
                                                         (var_x + var_y + c2))
    return float(ssim.mean())


def _to_gray_uint8(frame, channel_order='rgb'):
    """(C, H, W) RGB (or BGR) tensor/array in [0, 255] -> (H, W) uint8 gray."""
    if isinstance(frame, torch.Tensor):
        frame = frame.detach().cpu().numpy()
    img = np.clip(np.round(np.asarray(frame, dtype=np.float64)), 0, 255).astype(np.uint8)
    img = np.ascontiguousarray(img.transpose(1, 2, 0))
    if img.shape[2] != 3:
        return img[..., 0]
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY if channel_order == 'rgb' else cv2.COLOR_BGR2GRAY)


def centre_crop_32(flow):
    """FMA-Net's crop for tOF: the largest centred multiple-of-32 region with a >=8 px margin."""
    h, w = flow.shape[:2]
    ch, cw = (h // 32) * 32, (w // 32) * 32
    while ch > h - 16:
        ch -= 32
    while cw > w - 16:
        cw -= 32
    if ch <= 0 or cw <= 0:
        return flow
    y, x = (h - ch) // 2, (w - cw) // 2
    return flow[y:y + ch, x:x + cw]


def farneback_flow(prev_gray, cur_gray):
    return cv2.calcOpticalFlowFarneback(prev_gray, cur_gray, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def temporal_flow_error(gt_frames, pred_frames, crop=True, channel_order='rgb'):
    """tOF of one clip (FMA-Net): mean over consecutive pairs of the mean end-point distance
    between the Farneback flow of the ground truth and that of the prediction."""
    gt_gray = [_to_gray_uint8(f, channel_order) for f in gt_frames]
    pred_gray = [_to_gray_uint8(f, channel_order) for f in pred_frames]
    if len(gt_gray) < 2:
        raise ValueError('tOF needs clips of at least 2 frames')
    values = []
    for t in range(1, len(gt_gray)):
        diff = farneback_flow(gt_gray[t - 1], gt_gray[t]) - farneback_flow(
            pred_gray[t - 1], pred_gray[t])
        if crop:
            diff = centre_crop_32(diff)
        values.append(np.sqrt((diff.astype(np.float64)**2).sum(-1)).mean())
    return float(np.mean(values))


@METRICS.register_module()
class TemporalFlowError(VideoProtocolMixin, BaseSampleWiseMetric):
    """tOF temporal consistency (FMA-Net): optical-flow difference between consecutive output
    frames and consecutive ground-truth frames. Lower is better.

    Args:
        exclude_frames (int): Frames not scored at each end of every clip. Default: 0.
        crop (bool): FMA-Net's centred multiple-of-32 crop of the flow. Default: True.
        channel_order (str): For the grey conversion: 'auto' (what mmagic's data
            preprocessor recorded, else RGB), 'rgb' or 'bgr'. Default: 'auto'.
    """
    metric = 'tOF'

    def __init__(self, gt_key='gt_img', pred_key='pred_img', exclude_frames: int = 0,
                 crop: bool = True, channel_order: str = 'auto', collect_device='cpu',
                 prefix: Optional[str] = None):
        super().__init__(gt_key=gt_key, pred_key=pred_key, mask_key=None,
                         collect_device=collect_device, prefix=prefix)
        self.exclude_frames = exclude_frames
        self.crop = crop
        self._init_channel_order(channel_order)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for data in data_samples:
            gt, pred = self._frame_pairs(data)
            if gt.shape[0] < 2:
                raise ValueError(f"tOF needs video clips; {data.get('key', 'sample')} has a "
                                 'single frame')
            self.add_result(data, temporal_flow_error(gt, pred, self.crop,
                                                      self.sample_channel_order(data)))
