"""tools/test.py and tools/deblur_video.py run one stitching path: same model, settings and input
give the same frames."""
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = {
    # several chunks (6 frames, chunks of 4 sharing 2) and tiles (96x80 in 64-px tiles)
    'bsstnet': ('configs/bsstnet/bsstnet_c24_1xb1-300i_synthetic.py',
                ['model.test_cfg.chunk_frames=4', 'model.test_cfg.chunk_overlap=2',
                 'model.test_cfg.tile=64', 'model.test_cfg.tile_overlap=16']),
    # a window model: chunks of 4 frames (overlap raised to 2) and 48-px tiles
    'edvr': ('configs/edvr_deblur/edvr-deblur_c16b1_1xb1-300i_synthetic.py',
             ['model.test_cfg.chunk_frames=4', 'model.test_cfg.tile=48',
              'model.test_cfg.tile_overlap=16']),
}


def run(args):
    env = dict(os.environ, OMP_NUM_THREADS='2')
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_test_tool_and_video_tool_give_the_same_frames(tmp_path, name):
    from vdeblur_mm.datasets import generate_synthetic_dataset
    from vdeblur_mm.inference import FrameReader, init_model
    config, options = CONFIGS[name]
    data = str(tmp_path / 'data')
    seqs = generate_synthetic_dataset(data, num_train=1, num_test=1, num_frames=6,
                                      size=(96, 80), subframes=3, seed=3)
    # a checkpoint whose every weight matters (no zero-initialised identity output)
    torch.manual_seed(0)
    model = init_model(osp.join(ROOT, config))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    ckpt = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)

    dump = str(tmp_path / 'preds.pkl')
    run(['tools/test.py', config, ckpt, '--work-dir', str(tmp_path / 'work'), '--dump', dump,
         '--cfg-options', f'test_dataloader.dataset.data_root={data}/test', *options])
    with open(dump, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 1
    pred = preds[0]['pred_img']
    assert pred.shape == (6, 96, 80, 3)

    out = str(tmp_path / 'restored')
    blurry = osp.join(data, 'test', seqs['test'][0], 'blur')
    run(['tools/deblur_video.py', config, ckpt, blurry, out, '--device', 'cpu',
         '--cfg-options', *options])
    frames = np.stack(list(FrameReader(out)))
    assert frames.shape == pred.shape
    np.testing.assert_array_equal(frames, pred)
    # and the network did something: the output is not the input
    assert np.abs(frames.astype(int) - np.stack(list(FrameReader(blurry))).astype(int)).mean() > 1
