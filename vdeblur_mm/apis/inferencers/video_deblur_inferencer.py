"""An mmagic inferencer that restores a video of any length through the package's stitcher."""
import os.path as osp
from typing import Dict, Iterator

from mmagic.apis.inferencers.base_mmagic_inferencer import BaseMMagicInferencer

from ...inference.restorer import VideoRestorer
from ...inference.video_io import FrameReader, FrameWriter


class VideoDeblurInferencer(BaseMMagicInferencer):
    """mmagic-style inferencer for every video model of this package (and mmagic's video models
    whose config declares ``model.test_cfg.inference_spec``).

    mmagic's own ``VideoRestorationInferencer`` loads the whole video into memory and calls the
    network once (or per window); this one streams the video through the model's stitcher
    (temporal chunks, spatial tiles, the model's padding and window contract), as
    ``tools/deblur_video.py`` and ``tools/test.py`` do, so any length and resolution works in
    bounded memory and gives the frames ``tools/test.py`` gives.

    Example:
        >>> import vdeblur_mm
        >>> from vdeblur_mm.apis import VideoDeblurInferencer
        >>> inferencer = VideoDeblurInferencer(CONFIG, CKPT, device='cuda')
        >>> inferencer(video='blurry.mp4', result_out_dir='restored.mp4')

    ``video`` is a video file or a folder of frames; ``result_out_dir`` a video file (by its
    extension) or a folder that receives PNG frames. ``extra_parameters`` (or keyword arguments
    of the call) override the model's stitching: ``chunk_frames``, ``chunk_overlap``, ``tile``,
    ``tile_overlap``, ``blend``, ``amp``, ``fps``; None keeps the model's own.
    """

    func_kwargs = dict(preprocess=['video'], forward=[], visualize=['result_out_dir'],
                       postprocess=[])
    extra_parameters = dict(chunk_frames=None, chunk_overlap=None, tile=None, tile_overlap=None,
                            blend=None, amp=None, fps=None)

    def __init__(self, config, ckpt=None, device=None, extra_parameters=None, seed=2022,
                 **kwargs):
        if ckpt is not None and not osp.isfile(ckpt):
            raise FileNotFoundError(f'checkpoint {ckpt} does not exist')
        # a fresh copy per instance: the base class updates it in place
        self.extra_parameters = dict(type(self).extra_parameters)
        super().__init__(config, ckpt, device, extra_parameters, seed=seed, **kwargs)

    def __call__(self, video=None, result_out_dir='', **kwargs) -> Dict:
        """Restore ``video`` into ``result_out_dir``.

        Returns:
            dict: ``output`` (the path written) and ``num_frames``.
        """
        if not video:
            raise ValueError('VideoDeblurInferencer needs video= (a video file or a frame folder)')
        if not result_out_dir:
            raise ValueError('VideoDeblurInferencer needs result_out_dir= (a video file or a '
                             'folder for the restored frames)')
        unknown = set(kwargs) - set(self.extra_parameters)
        if unknown:
            raise TypeError(f'VideoDeblurInferencer: unknown arguments {sorted(unknown)}; '
                            f'known: {sorted(self.extra_parameters)}')
        params = {**self.extra_parameters, **kwargs}
        reader = self.preprocess(video)
        count = self.visualize(self.forward(reader, **params), result_out_dir,
                               fps=params['fps'] or reader.fps)
        return self.postprocess(count, result_out_dir)

    def preprocess(self, video) -> FrameReader:
        """Open the frame stream (checks the file or folder; frames are read lazily)."""
        return FrameReader(video)

    def forward(self, reader, fps=None, **settings) -> Iterator:
        """Restored frames (RGB uint8), lazily, through the model's stitcher."""
        return VideoRestorer(self.model.eval(), **settings)(reader)

    def visualize(self, preds, result_out_dir='', fps=25.0) -> int:
        """Write the restored frames; returns how many were written."""
        with FrameWriter(result_out_dir, fps=fps) as writer:
            for frame in preds:
                writer.write(frame)
        return writer.count

    def postprocess(self, preds, result_out_dir='') -> Dict:
        return dict(output=result_out_dir, num_frames=preds)
