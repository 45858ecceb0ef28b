"""Build a model from its config and restore a video file with it."""
import os.path as osp

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
                 tile=None, tile_overlap=None, amp=None, fps=None, progress=True, blend=None):
    """Restore a video file or frame folder into a video file or frame folder.

    Settings left at None come from the model (its defaults and its config's ``test_cfg``),
    so the frames equal those of ``tools/test.py`` on the same model and input; ``tile=0``
    processes whole frames.

    Returns:
        int: number of frames written.
    """
    reader = FrameReader(input_path)
    restorer = VideoRestorer(model, chunk_frames=chunk_frames, chunk_overlap=chunk_overlap,
                             tile=tile, tile_overlap=tile_overlap, amp=amp, blend=blend)
    frames = restorer(reader)
    if progress:
        from tqdm import tqdm
        frames = tqdm(frames, total=reader.num_frames, unit='frame', desc='deblurring')
    with FrameWriter(output_path, fps=fps or reader.fps) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.count
