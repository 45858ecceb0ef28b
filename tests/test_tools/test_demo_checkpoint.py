"""The shipped demo model (checkpoints/demo/): small, loads strictly, deblurs a clip it never saw
and leaves a sharp one alone (numbers of the full check: docs/demo.md)."""
import os.path as osp

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'checkpoints', 'demo')
CONFIG = osp.join(DEMO, 'config.py')
CHECKPOINT = osp.join(DEMO, 'nafnet-stack3_c16_demo.pth')
# the one-frame model the shipped one was trained from (tools/train_demo_model.py --inflate-from)
SINGLE_FRAME = osp.join(DEMO, 'nafnet-frames_c16_demo.pth')


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
    assert osp.getsize(CHECKPOINT) + osp.getsize(SINGLE_FRAME) < 8 * 2**20
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


@pytest.mark.parametrize('noise', [1.5 / 255, 0.0])
def test_demo_model_leaves_a_sharp_clip_alone(demo_model, noise):
    # no camera translation (the generator's slight roll and zoom remain), with and without
    # sensor noise: no sharpening artefacts (the one-frame model: -0.10 dB without noise)
    blurry, sharp = clip('astronaut', 12, max_blur_px=0.0, noise_sigma=noise)
    before = psnr(blurry, sharp)
    after = psnr(restore(demo_model, blurry), sharp)
    assert after - before > -0.1, (before, after)


def test_demo_model_nearly_keeps_a_still_clip(demo_model):
    """A still camera without noise: the input is the sharp clip itself."""
    blurry, sharp = clip('coffee', 5, max_blur_px=0.0, max_angle=0.0, max_zoom=0.0)
    assert np.array_equal(blurry, sharp)
    assert psnr(restore(demo_model, blurry), sharp) > 45.0


def test_inflated_one_frame_weights_start_the_three_frame_model_at_its_output(tmp_path):
    """tools/train_demo_model.py --inflate-from: the three-frame model starts where the
    one-frame model (the start of the shipped one's training) ends."""
    import sys

    from vdeblur_mm.inference import init_model
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import train_demo_model
    out = train_demo_model.inflate_checkpoint(train_demo_model.CONFIG, SINGLE_FRAME,
                                              str(tmp_path / 'start.pth'))
    stack = init_model(train_demo_model.CONFIG, out)
    single = init_model(osp.join(ROOT, 'configs', 'nafnet_frames',
                                 'nafnet-frames_c16_1xb8-demo_synthetic.py'), SINGLE_FRAME)
    window = torch.rand(1, 3, 3, 32, 48)
    with torch.no_grad():
        assert torch.allclose(stack.generator(window), single.generator(window[:, 1:2]),
                              atol=1e-5)
    with pytest.raises(SystemExit, match='no such checkpoint'):
        train_demo_model.inflate_checkpoint(train_demo_model.CONFIG, str(tmp_path / 'none.pth'),
                                            str(tmp_path / 'x.pth'))
