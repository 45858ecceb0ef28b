"""Build a model from its config and restore a video file with it."""
import os.path as osp
from collections import deque

import cv2
import numpy as np

from .restorer import VideoRestorer
from .video_io import FrameReader, FrameWriter


def init_model(config, checkpoint=None, device='cpu', cfg_options=None):
    """Build any registered model from a config file (or ``Config``) and load a checkpoint.

    Raises:
        FileNotFoundError: the config or the checkpoint does not exist.
    """
    from mmagic.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    if isinstance(config, str):
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file {config} does not exist')
        config = Config.fromfile(config)
    if cfg_options:
        config.merge_from_dict(cfg_options)
    init_default_scope(config.get('default_scope', 'mmagic'))
    model = MODELS.build(config.model)
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
        load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    model.cfg = config
    return model.to(device).eval()


def deblur_video(model, input_path, output_path, chunk_frames=None, chunk_overlap=None,
                 tile=None, tile_overlap=None, amp=None, fps=None, progress=True, blend=None,
                 side_by_side=False):
    """Restore a video file or frame folder into a video file or frame folder.

    Settings left at None come from the model (its defaults and its config's ``test_cfg``),
    so the frames equal those of ``tools/test.py`` on the same model and input; ``tile=0``
    processes whole frames. With ``side_by_side``, every output frame is the input frame and
    the restored one next to each other, labelled (for models that keep the size).

    Returns:
        int: number of frames written.
    """
    reader = FrameReader(input_path)
    restorer = VideoRestorer(model, chunk_frames=chunk_frames, chunk_overlap=chunk_overlap,
                             tile=tile, tile_overlap=tile_overlap, amp=amp, blend=blend)
    if side_by_side:
        # the input frames wait in a queue until their restored frame comes out, so memory
        # stays bounded by the restorer's look-ahead (one chunk)
        pending = deque()

        def remember(frames):
            for frame in frames:
                pending.append(frame)
                yield frame

        frames = (compose_side_by_side(pending.popleft(), out)
                  for out in restorer(remember(reader)))
    else:
        frames = restorer(reader)
    if progress:
        from tqdm import tqdm
        frames = tqdm(frames, total=reader.num_frames, unit='frame', desc='deblurring')
    with FrameWriter(output_path, fps=fps or reader.fps) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.count


def compose_side_by_side(blurry, restored, labels=('input', 'restored')):
    """``blurry | restored`` as one RGB uint8 frame, each half labelled in its corner."""
    if blurry.shape[:2] != restored.shape[:2]:
        blurry = cv2.resize(blurry, restored.shape[1::-1], interpolation=cv2.INTER_CUBIC)
    panels = []
    for img, label in zip((blurry, restored), labels):
        img = np.ascontiguousarray(img)
        scale = max(img.shape[0] / 512, 0.5)
        org = (int(8 * scale), int(28 * scale))
        cv2.putText(img, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (0, 0, 0),
                    int(4 * scale), cv2.LINE_AA)
        cv2.putText(img, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (255, 255, 255),
                    max(int(2 * scale), 1), cv2.LINE_AA)
        panels.append(img)
    return np.concatenate(panels, axis=1)
