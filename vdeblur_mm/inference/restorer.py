"""Memory-bounded restoration of frame streams (video files, frame folders) of any length and
resolution with any registered model, through the package's one stitcher
(:class:`vdeblur_mm.models.layers.stitching.VideoStitcher`).

Models of this package (``VideoDeblurEditor``) bring their own stitcher: the same chunks, tiles
and blending as their ``tools/test.py`` run, so both give the same frames. Other models (e.g.
mmagic's ``BasicVSR``, the peer baseline) declare their contract in the config,
``model.test_cfg=dict(inference_spec=dict(mode=..., size_multiple=..., min_size=...))``, and are
called as ``model(x, mode='tensor')``.
"""
import numpy as np
import torch

from ..models.layers.stitching import StitchSettings, VideoStitcher, resolve_inference_spec


def build_stitcher(model, **overrides):
    """The stitcher of any model; ``overrides`` (None: keep the model's) replace settings."""
    if hasattr(model, 'stitcher'):
        return model.stitcher(**overrides)
    spec = resolve_inference_spec(model)
    settings = StitchSettings.resolve(spec, getattr(model, 'test_cfg', None), **overrides)
    return VideoStitcher(spec, settings, lambda x, context: model(x, mode='tensor'))


class VideoRestorer:
    """Run a restoration model over a frame stream in overlapping temporal chunks and spatial
    tiles. Memory is bounded by ``chunk_frames`` (and ``tile``), whatever the video's length.

    Every setting left at None comes from the model (its defaults and its config's
    ``test_cfg``); see :class:`~vdeblur_mm.models.layers.stitching.StitchSettings`.

    Args:
        model (nn.Module): An mmagic model (``BaseEditModel``) in eval mode.
        chunk_frames (int, optional): Frames per chunk.
        chunk_overlap (int, optional): Frames shared by consecutive chunks.
        tile (int, optional): Spatial tile size; 0 processes whole frames.
        tile_overlap (int, optional): Pixels shared by neighbouring tiles.
        blend (str, optional): 'trim' or 'average'.
        window_batch (int, optional): Windows per model call of a window model.
        amp (bool, optional): fp16 autocast on CUDA.
    """

    def __init__(self, model, chunk_frames=None, chunk_overlap=None, tile=None,
                 tile_overlap=None, blend=None, window_batch=None, amp=None):
        self.model = model
        self.stitcher = build_stitcher(
            model, chunk_frames=chunk_frames, chunk_overlap=chunk_overlap, tile=tile,
            tile_overlap=tile_overlap, blend=blend, window_batch=window_batch, amp=amp)
        self.spec = self.stitcher.spec
        self.device = next(model.parameters()).device
        pre = getattr(model, 'data_preprocessor', None)
        mean = getattr(pre, 'mean', None)
        std = getattr(pre, 'std', None)
        self.mean = (mean if mean is not None else torch.zeros(3, 1, 1)).to(self.device)
        self.std = (std if std is not None else torch.full((3, 1, 1), 255.)).to(self.device)

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
        for frame in self.stitcher.restore_stream(frames, self._restore):
            yield from self._to_uint8(frame)
