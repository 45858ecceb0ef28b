"""The shipped demo model (checkpoints/demo/): small, loads strictly, deblurs a clip it never saw
and leaves a sharp one alone (numbers of the full check: docs/demo.md)."""
import os.path as osp

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'checkpoints', 'demo')
CONFIG = osp.join(DEMO, 'config.py')
CHECKPOINT = osp.join(DEMO, 'nafnet-frames_c16_demo.pth')


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def restore(model, frames):
    from vdeblur_mm.inference import VideoRestorer
    with torch.no_grad():
        return np.stack(list(VideoRestorer(model)(list(frames))))


@pytest.fixture(scope='module')
def demo_model():
    from vdeblur_mm.inference import init_model
    return init_model(CONFIG, CHECKPOINT)


def test_demo_checkpoint_is_small_and_loads_strictly():
    from mmagic.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    assert osp.getsize(CHECKPOINT) < 8 * 2**20
    ckpt = torch.load(CHECKPOINT, map_location='cpu', weights_only=True)
    assert ckpt['meta']['command'].startswith('python tools/train_demo_model.py')
    init_default_scope('mmagic')
    model = MODELS.build(Config.fromfile(CONFIG).model)
    model.load_state_dict(ckpt['state_dict'], strict=True)  # every key, nothing extra


def clip(image_name, seed, **options):
    from vdeblur_mm.datasets.synthetic import load_source_images, synthesize_clip
    image = load_source_images()[image_name]
    return synthesize_clip(image, np.random.default_rng(seed), 6, (96, 128), subframes=9,
                           **options)


def test_demo_model_deblurs_a_held_out_clip(demo_model):
    # a held-out image, a seed and a size the model was not trained on, camera motion only
    blurry, sharp = clip('camera', 11, max_blur_px=14.0)
    before = psnr(blurry, sharp)
    after = psnr(restore(demo_model, blurry), sharp)
    assert after - before > 0.5, (before, after)


def test_demo_model_leaves_a_sharp_clip_alone(demo_model):
    # a still camera (no blur) with sensor noise: no sharpening artefacts
    blurry, sharp = clip('astronaut', 12, max_blur_px=0.0, noise_sigma=1.5 / 255)
    before = psnr(blurry, sharp)
    after = psnr(restore(demo_model, blurry), sharp)
    assert after - before > -0.1, (before, after)
