"""Memory-bounded restoration of videos of any length and resolution with any registered model.

What a model needs at inference it declares in ``inference_spec`` (a dict attribute of its
generator, overridable by ``test_cfg=dict(inference_spec=...)`` in the config):

- ``mode``: 'sequence' (T frames in, T frames out; recurrent and transformer models) or
  'window' (``window_frames`` frames in, the centre frame out; sliding-window models).
- ``window_frames``: frames per window in 'window' mode.
- ``size_multiple`` / ``min_size``: H and W are padded (reflect) up to a multiple of / at least
  this, and the output is cropped back.
- ``scale``: output size / input size.
"""
from itertools import islice

import numpy as np
import torch

from ..models.layers.video import get_inference_spec, pad_to_multiple, tile_starts


class VideoRestorer:
    """Run a restoration model over a frame stream in overlapping temporal chunks and spatial tiles.

    Memory is bounded by ``chunk_frames`` (and ``tile``), whatever the video's length and size.

    Args:
        model (nn.Module): An mmagic model (``BaseEditModel``) in eval mode.
        chunk_frames (int): Frames per model call in 'sequence' mode. Default: 30.
        overlap (int): Frames shared by consecutive chunks; half of it at each side is context
            only, its outputs are discarded. Default: 4.
        tile (int, optional): Spatial tile size; None processes whole frames. Default: None.
        tile_overlap (int): Pixels shared by neighbouring tiles (outputs are averaged there).
        window_batch (int): Windows per model call in 'window' mode. Default: 4.
        amp (bool): fp16 autocast on CUDA. Default: False.
    """

    def __init__(self, model, chunk_frames=30, overlap=4, tile=None, tile_overlap=32,
                 window_batch=4, amp=False):
        self.model = model
        self.spec = get_inference_spec(model)
        if chunk_frames < 1 or not 0 <= overlap < chunk_frames:
            raise ValueError(f'need chunk_frames >= 1 and 0 <= overlap < chunk_frames, got '
                             f'{chunk_frames} and {overlap}')
        if tile is not None and tile < self.spec['min_size']:
            raise ValueError(f"tile {tile} is smaller than the model's minimum input size "
                             f"{self.spec['min_size']}")
        self.chunk_frames = chunk_frames
        self.overlap = overlap
        self.tile = tile
        self.tile_overlap = tile_overlap
        self.window_batch = window_batch
        self.amp = amp
        self.device = next(model.parameters()).device
        pre = getattr(model, 'data_preprocessor', None)
        mean = getattr(pre, 'mean', None)
        std = getattr(pre, 'std', None)
        self.mean = (mean if mean is not None else torch.zeros(3, 1, 1)).to(self.device)
        self.std = (std if std is not None else torch.full((3, 1, 1), 255.)).to(self.device)

    # ---------------------------------------------------------------- model calls
    @torch.no_grad()
    def _model_call(self, x):
        """x: (B, T, C, h, w) normalised -> model output, padded as the model needs."""
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, self.spec['size_multiple'], self.spec['min_size'])
        with torch.autocast('cuda', dtype=torch.float16,
                            enabled=self.amp and x.is_cuda):
            out = self.model(x, mode='tensor')
        s = self.spec['scale']
        return out[..., :h * s, :w * s].float()

    def _tiled_call(self, x):
        """Spatially tiled model call with averaging in the overlaps."""
        h, w = x.shape[-2:]
        if self.tile is None or (h <= self.tile and w <= self.tile):
            return self._model_call(x)
        s = self.spec['scale']
        out = weight = None
        for y0 in tile_starts(h, self.tile, self.tile_overlap):
            for x0 in tile_starts(w, self.tile, self.tile_overlap):
                patch = self._model_call(x[..., y0:y0 + self.tile, x0:x0 + self.tile])
                if out is None:
                    out = patch.new_zeros(*patch.shape[:-2], h * s, w * s)
                    weight = patch.new_zeros(h * s, w * s)
                ph, pw = patch.shape[-2:]
                out[..., y0 * s:y0 * s + ph, x0 * s:x0 * s + pw] += patch
                weight[y0 * s:y0 * s + ph, x0 * s:x0 * s + pw] += 1
        return out / weight

    def _restore(self, frames):
        """list of (H, W, 3) uint8 -> normalised (1, T, 3, H, W) tensor on the model device."""
        # contiguous NCHW: a channels-last view would propagate through the convolutions and
        # mmcv's deformable-convolution kernels read such memory wrongly
        x = torch.from_numpy(np.stack(frames)).to(self.device).permute(0, 3, 1, 2)
        x = x.contiguous().float()
        return ((x - self.mean) / self.std)[None]

    def _to_uint8(self, y):
        """(..., 3, H, W) normalised output -> list of (H, W, 3) uint8 arrays."""
        y = (y * self.std + self.mean).clamp(0, 255).round().to(torch.uint8)
        return list(y.reshape(-1, *y.shape[-3:]).permute(0, 2, 3, 1).cpu().numpy())

    # ---------------------------------------------------------------- streams
    def __call__(self, frames):
        """Restore an iterable of RGB uint8 frames; yields restored frames in order."""
        if self.spec['mode'] == 'window':
            return self._restore_windows(iter(frames))
        return self._restore_sequence(iter(frames))

    def _restore_sequence(self, it):
        size, overlap = self.chunk_frames, self.overlap
        buf = list(islice(it, size))
        start = next_emit = 0  # global indices of buf[0] and of the next frame to yield
        while buf:
            ahead = list(islice(it, size - overlap))
            last = not ahead
            emit_end = start + len(buf) - (0 if last else overlap - overlap // 2)
            out = self._to_uint8(self._tiled_call(self._restore(buf))[0])
            for g in range(next_emit, emit_end):
                yield out[g - start]
            next_emit = emit_end
            if last:
                return
            # the next chunk keeps `overlap` frames of context, or more when fewer frames are
            # left, so that the last chunk also holds `size` frames (aligned to the video end)
            keep = max(overlap, size - len(ahead))
            keep = min(keep, len(buf))
            start += len(buf) - keep
            buf = buf[len(buf) - keep:] + ahead

    def _restore_windows(self, it):
        n = self.spec['window_frames']
        half = n // 2
        buf = list(islice(it, half + 1))  # frames [0, half]
        if not buf:
            return
        start, t = 0, 0  # global index of buf[0]; next output frame
        exhausted = False
        batch = []
        while True:
            # make sure frame t + half is loaded (or the stream is exhausted)
            while not exhausted and start + len(buf) <= t + half:
                nxt = next(it, None)
                if nxt is None:
                    exhausted = True
                else:
                    buf.append(nxt)
            total = start + len(buf) if exhausted else None
            if total is not None and t >= total:
                break
            last_index = start + len(buf) - 1
            idx = [min(max(i, 0), last_index) for i in range(t - half, t + half + 1)]
            batch.append([buf[i - start] for i in idx])
            t += 1
            done = exhausted and t >= start + len(buf)
            if len(batch) == self.window_batch or done:
                x = torch.cat([self._restore(w) for w in batch])
                yield from self._to_uint8(self._tiled_call(x))
                batch = []
            # drop frames no later window needs
            drop = max(0, (t - half) - start)
            drop = min(drop, len(buf) - 1)
            if drop:
                buf = buf[drop:]
                start += drop
            if done:
                break
        if batch:
            x = torch.cat([self._restore(w) for w in batch])
            yield from self._to_uint8(self._tiled_call(x))
