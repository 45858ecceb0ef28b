"""Pipeline transforms for paired video sequences (``VideoDeblurDataset`` items)."""
import os.path as osp

import numpy as np
from mmagic.datasets.transforms import LoadImageFromFile
from mmagic.registry import TRANSFORMS
from mmcv.transforms import BaseTransform


@TRANSFORMS.register_module()
class SampleVideoClip(BaseTransform):
    """Pick the frames of one clip from a whole sequence.

    Required keys: ``key``, ``blur_frames``, ``sharp_frames``, ``sequence_length``
    (optional ``num_input_frames``). Added keys: ``img_path``, ``gt_path`` (lists of files),
    ``frame_indices``, ``interval``.

    Args:
        num_frames (int, optional): Frames per clip. None takes ``num_input_frames`` from the
            dataset, and if that is None too, the whole sequence. Default: None.
        interval_list (list[int]): Temporal strides to sample from. Default: [1].
        random_start (bool): Random clip start (training) or ``start`` (testing). Default: True.
        start (int): First frame when ``random_start`` is False. Default: 0.
        gt_frames (str): 'all' — one sharp frame per input frame; 'centre' — only the sharp
            centre frame (sliding-window models such as EDVR). Default: 'all'.
    """

    def __init__(self, num_frames=None, interval_list=(1, ), random_start=True, start=0,
                 gt_frames='all'):
        if gt_frames not in ('all', 'centre'):
            raise ValueError(f"gt_frames must be 'all' or 'centre', got {gt_frames!r}")
        if num_frames is not None and num_frames < 1:
            raise ValueError(f'num_frames must be positive, got {num_frames}')
        self.num_frames = num_frames
        self.interval_list = list(interval_list)
        self.random_start = random_start
        self.start = start
        self.gt_frames = gt_frames

    def transform(self, results):
        length = results['sequence_length']
        num = self.num_frames or results.get('num_input_frames') or length
        interval = int(np.random.choice(self.interval_list))
        span = (num - 1) * interval + 1
        if span > length:
            raise ValueError(f"sequence {results['key']!r} has {length} frames, fewer than a "
                             f'clip of {num} frames at interval {interval} needs ({span})')
        if self.random_start:
            start = np.random.randint(0, length - span + 1)
        else:
            start = min(self.start, length - span)
        indices = list(range(start, start + span, interval))
        results['img_path'] = [results['blur_frames'][i] for i in indices]
        sharp = [results['sharp_frames'][i] for i in indices]
        results['gt_path'] = sharp[num // 2] if self.gt_frames == 'centre' else sharp
        results['frame_indices'] = indices
        results['interval'] = interval
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(num_frames={self.num_frames}, interval_list='
                f'{self.interval_list}, random_start={self.random_start}, '
                f'gt_frames={self.gt_frames!r})')


@TRANSFORMS.register_module()
class LoadVideoFrames(LoadImageFromFile):
    """mmagic's ``LoadImageFromFile`` with clear errors for missing, corrupt and mismatched frames.

    Every frame that cannot be read or decoded raises ``IOError`` naming the file. When the
    other key of the blurry/sharp pair is already loaded, the frame sizes are compared and a
    mismatch raises ``ValueError`` naming both files.
    """

    def _load_image(self, filename):
        if not osp.isfile(filename):
            raise IOError(f'frame {filename} does not exist')
        try:
            img = super()._load_image(filename)
        except Exception as exc:  # decoder errors differ between cv2/pillow/turbojpeg
            raise IOError(f'frame {filename} could not be decoded: {exc}') from exc
        if img is None or img.size == 0:
            raise IOError(f'frame {filename} could not be decoded (corrupt or not an image)')
        return img

    def transform(self, results):
        results = super().transform(results)
        other = {'img': 'gt', 'gt': 'img'}.get(self.key)
        if other in results and isinstance(results[other], (list, np.ndarray)):
            self._check_sizes(results, other)
        return results

    def _check_sizes(self, results, other):
        mine, theirs = results[self.key], results[other]
        mine_paths, their_paths = results[f'{self.key}_path'], results[f'{other}_path']
        if not isinstance(mine, list):
            mine, mine_paths = [mine], [mine_paths]
        if not isinstance(theirs, list):
            theirs, their_paths = [theirs], [their_paths]
        ref_shape, ref_path = theirs[0].shape[:2], their_paths[0]
        for img, path in zip(mine, mine_paths):
            if img.shape[:2] != ref_shape:
                raise ValueError(f'frame size mismatch: {path} is {img.shape[1]}x{img.shape[0]} '
                                 f'but {ref_path} is {ref_shape[1]}x{ref_shape[0]}')
