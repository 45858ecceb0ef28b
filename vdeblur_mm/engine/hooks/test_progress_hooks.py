"""What a long video test shows while it runs: a line per sequence, restored frames on disk,
blurry | restored | sharp panels in the visualisation backends."""
import os
import os.path as osp
import time

import cv2
import numpy as np
from mmagic.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ...evaluation.metrics.dump_predictions import to_uint8_frames


def _sample_name(sample, fallback):
    key = sample.get('key', None)
    if key is None:
        key = sample.metainfo.get('key', None) if hasattr(sample, 'metainfo') else None
    return str(key if key is not None else fallback)


def _frames(sample, name):
    """(T, H, W, 3) uint8 RGB of a data sample's field (prediction fields under ``output``)."""
    if name == 'pred_img':
        value = sample.output.pred_img
    else:
        value = getattr(sample, name, None)
        if value is None:
            return None
    frames = to_uint8_frames(value)
    return frames[None] if frames.ndim == 3 else frames


def _format_seconds(seconds):
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


@HOOKS.register_module()
class SequenceProgressHook(Hook):
    """One log line per restored sequence during validation and testing, with an ETA.

    Video tests run one whole sequence per iteration, so mmengine's ``LoggerHook`` (every 100
    iterations by default) stays silent for a GoPro or DVD test. This hook logs, on rank 0,
    ``[test] 3/11 GOPR0384_11_00: 100 frames in 41.2 s (2.4 frames/s), ETA 0:05:12`` after
    each iteration (the ETA from the mean time per iteration so far).
    """

    priority = 'BELOW_NORMAL'

    def _start(self, runner):
        self._t0 = time.perf_counter()
        self._last = self._t0

    def before_val_epoch(self, runner):
        self._start(runner)

    def before_test_epoch(self, runner):
        self._start(runner)

    def _report(self, runner, phase, batch_idx, outputs, total):
        now = time.perf_counter()
        took, self._last = now - self._last, now
        done = batch_idx + 1
        names, frames = [], 0
        for i, sample in enumerate(outputs or []):
            names.append(_sample_name(sample, f'sample {batch_idx}.{i}'))
            pred = sample.output.pred_img
            frames += int(pred.shape[0]) if pred.dim() == 4 else 1
        eta = (now - self._t0) / done * (total - done)
        rate = f' ({frames / took:.2f} frames/s)' if took > 0 else ''
        print_log(f'[{phase}] {done}/{total} {", ".join(names)}: {frames} frames in '
                  f'{took:.1f} s{rate}, ETA {_format_seconds(eta)}', logger='current')

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._report(runner, 'val', batch_idx, outputs, len(runner.val_dataloader))

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._report(runner, 'test', batch_idx, outputs, len(runner.test_dataloader))


@HOOKS.register_module()
class SaveRestoredFramesHook(Hook):
    """Write every restored frame of a test run as PNG: ``<out_dir>/<sequence>/<index>.png``.

    Off unless a folder is given, here or as the config's ``restored_frames_dir`` (so that
    mmagic's stock ``tools/test.py`` can switch it on with
    ``--cfg-options restored_frames_dir=DIR``; ``tools/test.py --save-frames DIR`` sets it).
    Frames are written as they are restored, so a long test needs no memory for them.

    Args:
        out_dir (str, optional): The folder. Default: None (the config's
            ``restored_frames_dir``, else off).
        filename_tmpl (str): File name of frame i. Default: '{:08d}.png'.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self, out_dir=None, filename_tmpl='{:08d}.png'):
        self.out_dir = out_dir
        self.filename_tmpl = filename_tmpl
        self._dir = None

    def before_test(self, runner):
        self._dir = self.out_dir or runner.cfg.get('restored_frames_dir', None)
        if self._dir:
            os.makedirs(self._dir, exist_ok=True)
            print_log(f'restored frames are written to {self._dir}', logger='current')

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not self._dir:
            return
        for i, sample in enumerate(outputs or []):
            name = _sample_name(sample, f'{batch_idx:06d}_{i}').replace(os.sep, '_')
            folder = osp.join(self._dir, name)
            os.makedirs(folder, exist_ok=True)
            for t, frame in enumerate(_frames(sample, 'pred_img')):
                path = osp.join(folder, self.filename_tmpl.format(t))
                if not cv2.imwrite(path, np.ascontiguousarray(frame[..., ::-1])):
                    raise OSError(f'SaveRestoredFramesHook: could not write {path}')


@HOOKS.register_module()
class VideoVisualizationHook(Hook):
    """During validation, send ``blurry | restored | sharp`` panels of a few frames of each of
    the first sequences to the visualiser's backends (mmengine's ``LocalVisBackend`` writes
    PNGs under ``<work_dir>/<timestamp>/vis_data/vis_image``; add
    ``dict(type='TensorboardVisBackend')`` to ``vis_backends`` for TensorBoard).

    Args:
        num_frames (int): Frames per sequence, evenly spaced. Default: 3.
        max_sequences (int): Sequences per validation. Default: 4.
        interval (int): Every how many validations. Default: 1.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self, num_frames=3, max_sequences=4, interval=1):
        if num_frames < 1 or max_sequences < 1 or interval < 1:
            raise ValueError('VideoVisualizationHook: num_frames, max_sequences and interval '
                             'must be positive')
        self.num_frames, self.max_sequences, self.interval = num_frames, max_sequences, interval
        self._shown = 0
        self._validations = 0

    def before_val_epoch(self, runner):
        self._validations += 1
        self._shown = 0

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if (self._validations - 1) % self.interval:
            return
        for i, sample in enumerate(outputs or []):
            if self._shown >= self.max_sequences:
                return
            self._shown += 1
            name = _sample_name(sample, f'{batch_idx}_{i}').replace(os.sep, '_')
            restored = _frames(sample, 'pred_img')
            blurry, sharp = _frames(sample, 'input'), _frames(sample, 'gt_img')
            t = restored.shape[0]
            for idx in np.unique(np.linspace(0, t - 1, self.num_frames).round().astype(int)):
                panel = [p[min(idx, p.shape[0] - 1)] for p in (blurry, restored, sharp)
                         if p is not None and p.shape[-3:] == restored.shape[-3:]]
                runner.visualizer.add_image(f'val_{name}_frame{idx:04d}',
                                            np.concatenate(panel, axis=1), step=runner.iter)
