"""mmagic's MMagicInferencer and our VideoDeblurInferencer restore clips with our configs."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import write_sequence
from vdeblur_mm.inference import deblur_video, init_model

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_BVSR = osp.join(ROOT, 'configs', 'basicvsr_pp_deblur',
                     'basicvsr-pp_c16n1_1xb1-300i_synthetic.py')
TINY_EDVR = osp.join(ROOT, 'configs', 'edvr_deblur', 'edvr-deblur_c16b1_1xb1-300i_synthetic.py')


def make_checkpoint(config, path):
    torch.manual_seed(0)
    model = init_model(config)
    torch.save(dict(state_dict=model.state_dict()), path)
    return model


def make_clip(folder, num=10, size=64):
    rng = np.random.default_rng(3)
    base = cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (5, 5), 2)
    frames = [np.roll(base, 2 * i, axis=1) for i in range(num)]
    write_sequence(folder, frames, tmpl='{:08d}.png')
    return frames


def read_folder(folder):
    return [cv2.imread(p)[..., ::-1] for p in sorted(glob.glob(osp.join(folder, '*.png')))]


@pytest.mark.parametrize('model_name,config,extra,size', [
    ('basicvsr_pp', TINY_BVSR, None, 256),  # its flows run at 1/4 size, at least 64
    ('edvr', TINY_EDVR, dict(window_size=3), 64)], ids=['basicvsr-pp', 'edvr'])
def test_mmagic_inferencer_restores_a_clip(tmp_path, model_name, config, extra, size):
    from mmagic.apis import MMagicInferencer
    ckpt = str(tmp_path / 'model.pth')
    model = make_checkpoint(config, ckpt)
    clip = str(tmp_path / 'clip')
    make_clip(clip, size=size)
    out = str(tmp_path / 'mmagic_out')
    inferencer = MMagicInferencer(model_name=model_name, model_config=config, model_ckpt=ckpt,
                                  extra_parameters=extra, device='cpu')
    inferencer.infer(video=clip, result_out_dir=out)
    theirs = read_folder(out)
    assert len(theirs) == 10 and theirs[0].shape == (size, size, 3)
    # the same model through our stitcher: equal frames away from the clip ends (mmagic pads a
    # window model's sequence by reflection, ours repeats the end frames), up to rounding
    ours_dir = str(tmp_path / 'ours')
    deblur_video(model, clip, ours_dir, progress=False)
    ours = read_folder(ours_dir)
    inner = slice(1, 9) if extra else slice(0, 10)
    diff = max(np.abs(a.astype(int) - b.astype(int)).max()
               for a, b in zip(ours[inner], theirs[inner]))
    assert diff <= 1


def test_video_deblur_inferencer_streams_any_model(tmp_path):
    from vdeblur_mm.apis import VideoDeblurInferencer
    ckpt = str(tmp_path / 'model.pth')
    model = make_checkpoint(TINY_EDVR, ckpt)
    clip = str(tmp_path / 'clip')
    make_clip(clip, num=7)
    inferencer = VideoDeblurInferencer(TINY_EDVR, ckpt, device='cpu')
    result = inferencer(video=clip, result_out_dir=str(tmp_path / 'out'), chunk_frames=4)
    assert result['num_frames'] == 7
    ours_dir = str(tmp_path / 'ours')
    deblur_video(model, clip, ours_dir, progress=False)
    for a, b in zip(read_folder(str(tmp_path / 'out')), read_folder(ours_dir)):
        np.testing.assert_array_equal(a, b)  # window model: chunking changes nothing
    with pytest.raises(TypeError, match='unknown arguments'):
        inferencer(video=clip, result_out_dir=str(tmp_path / 'o2'), tiles=3)
    with pytest.raises(ValueError, match='needs video='):
        inferencer(result_out_dir=str(tmp_path / 'o3'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        VideoDeblurInferencer(TINY_EDVR, str(tmp_path / 'missing.pth'))
