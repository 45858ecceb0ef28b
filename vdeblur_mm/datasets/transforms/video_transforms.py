"""Pipeline transforms for paired video sequences (``VideoDeblurDataset`` items)."""
import os.path as osp

import numpy as np
from mmagic.datasets.transforms import LoadImageFromFile
from mmagic.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from ..layouts import flow_file_name
from ..video_deblur_dataset import FLOW_TOOL_HINT, DatasetError


@TRANSFORMS.register_module()
class SampleVideoClip(BaseTransform):
    """Pick the frames of one clip from a whole sequence.

    Required keys: ``key``, ``blur_frames``, ``sharp_frames``, ``sequence_length``
    (optional ``num_input_frames``, ``sharp_lr_frames``). Added keys: ``img_path``,
    ``gt_path`` (lists of files), ``gt_lr_path`` (when the item has ``sharp_lr_frames``; the
    same frames as ``gt_path``), ``frame_indices``, ``interval``.

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
        if 'sharp_lr_frames' in results:
            sharp_lr = [results['sharp_lr_frames'][i] for i in indices]
            results['gt_lr_path'] = sharp_lr[num // 2] if self.gt_frames == 'centre' \
                else sharp_lr
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
    reference key is already loaded (``gt`` for ``img``; ``img`` for ``gt`` and ``gt_lr``),
    the frame sizes are compared and a mismatch raises ``ValueError`` naming both files.

    Args:
        key (str): 'img', 'gt', 'gt_lr', ... (reads ``<key>_path``).
        scale (int): Super-resolution factor: ``gt`` frames are ``scale`` times the ``img``
            (and ``gt_lr``) frames. Default: 1.
        Other args as in ``mmagic.datasets.transforms.LoadImageFromFile``.
    """

    def __init__(self, key, scale=1, **kwargs):
        super().__init__(key=key, **kwargs)
        self.scale = int(scale)
        if self.scale < 1:
            raise ValueError(f'scale must be a positive integer, got {scale}')

    def _reference(self):
        """(other key, size of my frames relative to the other's)."""
        return {'img': ('gt', 1 / self.scale), 'gt': ('img', self.scale),
                'gt_lr': ('img', 1)}.get(self.key, (None, 1))

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
        other, ratio = self._reference()
        if other in results and isinstance(results[other], (list, np.ndarray)):
            self._check_sizes(results, other, ratio)
        return results

    def _check_sizes(self, results, other, ratio=1):
        mine, theirs = results[self.key], results[other]
        mine_paths, their_paths = results[f'{self.key}_path'], results[f'{other}_path']
        if not isinstance(mine, list):
            mine, mine_paths = [mine], [mine_paths]
        if not isinstance(theirs, list):
            theirs, their_paths = [theirs], [their_paths]
        ref_shape, ref_path = theirs[0].shape[:2], their_paths[0]
        expected = tuple(round(n * ratio) for n in ref_shape)
        for img, path in zip(mine, mine_paths):
            if img.shape[:2] != expected:
                times = '' if ratio == 1 else f' (expected {expected[1]}x{expected[0]})'
                raise ValueError(f'frame size mismatch: {path} is {img.shape[1]}x{img.shape[0]} '
                                 f'but {ref_path} is {ref_shape[1]}x{ref_shape[0]}{times}')


def _frames(value):
    """A clip as a list of frames, and whether it was a list."""
    return (value, True) if isinstance(value, list) else ([value], False)


@TRANSFORMS.register_module()
class LoadPseudoFlows(BaseTransform):
    """Load FMA-Net's pseudo-GT optical flows of a clip: centre frame → every frame.

    For the clip's frames (``img_path``), with centre ``c = T // 2``, frame ``i`` gets the flow
    ``<flow_dir>/<stem of frame c>_<stem of frame i>.npy`` (as FMA-Net's data.py and
    preprocessing/generate_flow.py name them), an (h, w, 2) float32 array in LR pixels,
    channel 0 the horizontal (x) displacement; the centre frame gets a zero flow. The flow is
    RAFT's convention, from the centre frame to the neighbour: ``centre(p) ~ frame_i(p + f(p))``.

    Required keys: ``img_path`` (list), ``flow_dir`` (from ``VideoDeblurDataset(...,
    with_flows=True)``), ``key``. Added key: ``gt_flow``, a list of T (h, w, 2) float32
    arrays (``PackInputs(data_keys=['gt_flow'])`` makes it a (T, 2, h, w) tensor).

    Args:
        key (str): Result key. Default: 'gt_flow'.
    """

    def __init__(self, key='gt_flow'):
        self.key = key

    def transform(self, results):
        if 'flow_dir' not in results:
            raise DatasetError(
                f"sequence {results.get('key')!r}: the pipeline loads pseudo-GT flows "
                '(LoadPseudoFlows) but the dataset gives no flow folder: build '
                'VideoDeblurDataset with with_flows=True and a layout that names a "flow" '
                "folder (e.g. 'reds_vsrdb', 'gopro_x4')")
        paths, _ = _frames(results['img_path'])
        stems = [osp.splitext(osp.basename(p))[0] for p in paths]
        centre = len(stems) // 2
        flows, shape = [None] * len(stems), None
        for i, stem in enumerate(stems):
            if i == centre:
                continue
            path = osp.join(results['flow_dir'], flow_file_name(stems[centre], stem))
            if not osp.isfile(path):
                raise DatasetError(f'pseudo-flow file {path} does not exist (flow from frame '
                                   f'{stems[centre]} to frame {stem}); ' + FLOW_TOOL_HINT)
            flow = np.load(path)
            if flow.ndim != 3 or flow.shape[2] != 2:
                raise DatasetError(f'pseudo-flow file {path} holds an array of shape '
                                   f'{flow.shape}, expected (h, w, 2)')
            if shape is not None and flow.shape != shape:
                raise DatasetError(f'pseudo-flow file {path} is {flow.shape}, other flows of '
                                   f'the clip are {shape}')
            shape = flow.shape
            flows[i] = flow.astype(np.float32, copy=False)
        if shape is None:
            raise ValueError(f"sequence {results.get('key')!r}: LoadPseudoFlows needs clips "
                             'of at least 2 frames')
        if 'img' in results:
            img, _ = _frames(results['img'])
            if img[0].shape[:2] != shape[:2]:
                raise DatasetError(f"pseudo-flows in {results['flow_dir']} are "
                                   f'{shape[1]}x{shape[0]} but the input frames '
                                   f'({paths[0]}) are {img[0].shape[1]}x{img[0].shape[0]}: '
                                   'flows must be computed on the LR frames')
        flows[centre] = np.zeros(shape, np.float32)
        results[self.key] = flows
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(key={self.key!r})'


@TRANSFORMS.register_module()
class ScaledPairedRandomCrop(BaseTransform):
    """The same random window from LR keys and its ``scale``-times window from HR keys.

    mmagic's ``PairedRandomCrop`` crops only ``img`` (LR) and ``gt`` (HR). This one crops any
    number of keys, each a frame (h, w, c) or a list of frames: the LR keys (default the
    blurry input ``img``, the LR sharp frames ``gt_lr`` and the flows ``gt_flow``) at one
    ``gt_patch_size // scale`` window, the HR keys (``gt``) at the matching window, as FMA-Net's
    ``get_random_patch``. Keys absent from the results are skipped.

    Args:
        gt_patch_size (int): HR patch size (a multiple of ``scale``). FMA-Net: 256.
        scale (int): HR / LR size ratio. Default: 4.
        lq_keys (list[str]): LR keys. Default: ['img', 'gt_lr', 'gt_flow'].
        gt_keys (list[str]): HR keys. Default: ['gt'].
    """

    def __init__(self, gt_patch_size, scale=4, lq_keys=('img', 'gt_lr', 'gt_flow'),
                 gt_keys=('gt', )):
        if gt_patch_size % scale:
            raise ValueError(f'gt_patch_size {gt_patch_size} is not a multiple of scale '
                             f'{scale}')
        self.gt_patch_size = gt_patch_size
        self.scale = scale
        self.lq_keys = list(lq_keys)
        self.gt_keys = list(gt_keys)

    def transform(self, results):
        lq_keys = [k for k in self.lq_keys if k in results]
        gt_keys = [k for k in self.gt_keys if k in results]
        if not lq_keys:
            raise KeyError(f'ScaledPairedRandomCrop: none of the LR keys {self.lq_keys} is in '
                           'the results')
        lq_h, lq_w = _frames(results[lq_keys[0]])[0][0].shape[:2]
        name = results.get('key', 'sample')
        for key, factor in [(k, 1) for k in lq_keys] + [(k, self.scale) for k in gt_keys]:
            for frame in _frames(results[key])[0]:
                if frame.shape[:2] != (lq_h * factor, lq_w * factor):
                    raise ValueError(
                        f'{name}: {key} frames are {frame.shape[1]}x{frame.shape[0]}, expected '
                        f'{lq_w * factor}x{lq_h * factor} ({factor}x the {lq_keys[0]} '
                        'frames)')
        lq_patch = self.gt_patch_size // self.scale
        if lq_h < lq_patch or lq_w < lq_patch:
            raise ValueError(f'{name}: LR frames of {lq_w}x{lq_h} are smaller than the LR '
                             f'patch {lq_patch}x{lq_patch} (gt_patch_size '
                             f'{self.gt_patch_size} / scale {self.scale})')
        top = np.random.randint(lq_h - lq_patch + 1)
        left = np.random.randint(lq_w - lq_patch + 1)
        for key, factor in [(k, 1) for k in lq_keys] + [(k, self.scale) for k in gt_keys]:
            frames, is_list = _frames(results[key])
            t, lft, size = top * factor, left * factor, lq_patch * factor
            frames = [f[t:t + size, lft:lft + size, ...] for f in frames]
            results[key] = frames if is_list else frames[0]
        results['crop_lq_top_left'] = (top, left)
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(gt_patch_size={self.gt_patch_size}, scale='
                f'{self.scale}, lq_keys={self.lq_keys}, gt_keys={self.gt_keys})')


@TRANSFORMS.register_module()
class FlipWithFlow(BaseTransform):
    """Random horizontal or vertical flip of frames and of optical flows.

    All ``keys`` (frames or lists of frames, (h, w, c)) are flipped together with probability
    ``flip_ratio``; the ``flow_keys`` (flows (h, w, 2), channel 0 = x) are flipped too and
    their x (horizontal flip) or y (vertical flip) component negated, so that they still
    describe the flipped frames (FMA-Net's ``augment``). Keys absent from the results are
    skipped. Adds ``flip_<direction>`` (bool).

    Args:
        keys (list[str]): Image keys. Default: ['img', 'gt', 'gt_lr'].
        flow_keys (list[str]): Flow keys. Default: ['gt_flow'].
        flip_ratio (float): Probability of the flip. Default: 0.5.
        direction (str): 'horizontal' or 'vertical'. Default: 'horizontal'.
    """

    def __init__(self, keys=('img', 'gt', 'gt_lr'), flow_keys=('gt_flow', ), flip_ratio=0.5,
                 direction='horizontal'):
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f"direction must be 'horizontal' or 'vertical', got {direction!r}")
        self.keys = list(keys)
        self.flow_keys = list(flow_keys)
        self.flip_ratio = flip_ratio
        self.direction = direction

    def transform(self, results):
        flip = np.random.random() < self.flip_ratio
        results[f'flip_{self.direction}'] = bool(flip)
        if not flip:
            return results
        axis = 1 if self.direction == 'horizontal' else 0
        component = 0 if self.direction == 'horizontal' else 1
        for key in self.keys + self.flow_keys:
            if key not in results:
                continue
            frames, is_list = _frames(results[key])
            frames = [np.flip(f, axis=axis).copy() for f in frames]
            if key in self.flow_keys:
                for flow in frames:
                    if flow.shape[-1] != 2:
                        raise ValueError(f'{key} must hold (h, w, 2) flows, got '
                                         f'{flow.shape}')
                    flow[..., component] *= -1
            results[key] = frames if is_list else frames[0]
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(keys={self.keys}, flow_keys={self.flow_keys}, '
                f'flip_ratio={self.flip_ratio}, direction={self.direction!r})')
