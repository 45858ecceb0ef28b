import os.path as osp
import subprocess
import sys

import cv2
import numpy as np

from vdeblur_mm.datasets import VideoDeblurDataset, generate_synthetic_dataset, validate_dataset
from vdeblur_mm.datasets.synthetic import camera_trajectory, synthesize_clip

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def psnr(a, b):
    return 10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b)**2))


def test_synthetic_clip_is_blurred_by_its_motion():
    rng = np.random.default_rng(0)
    img = np.random.default_rng(1).uniform(0, 1, (128, 128, 3)).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    blurry, sharp = synthesize_clip(img, rng, num_frames=3, out_hw=(64, 80), subframes=7,
                                    max_blur_px=12)
    assert blurry.shape == sharp.shape == (3, 64, 80, 3) and blurry.dtype == np.uint8
    assert all(psnr(b, s) < 35 for b, s in zip(blurry, sharp))
    # blur removes high frequencies: the blurry frames have less gradient energy
    def grad_energy(f):
        return np.abs(np.diff(f.astype(np.float64), axis=1)).mean()
    assert all(grad_energy(b) < grad_energy(s) for b, s in zip(blurry, sharp))
    # no motion, no blur
    still = synthesize_clip(img, np.random.default_rng(0), 2, (64, 80), subframes=5,
                            max_blur_px=0.0)
    assert psnr(*still) > 45


def test_camera_trajectory_is_smooth():
    poses = camera_trajectory(np.random.default_rng(3), 90, max_speed=2.0)
    steps = np.linalg.norm(np.diff(poses[:, :2], axis=0), axis=1)
    assert poses.shape == (90, 4) and steps.max() <= 2.0 + 1e-6 and steps.min() > 0.5


def test_generated_dataset_layout(tmp_path):
    written = generate_synthetic_dataset(str(tmp_path), num_train=2, num_test=1, num_frames=3,
                                         size=(32, 40), subframes=3)
    assert len(written['train']) == 2 and len(written['test']) == 1
    train_src = {s.rsplit('_', 1)[0] for s in written['train']}
    test_src = {s.rsplit('_', 1)[0] for s in written['test']}
    assert not train_src & test_src  # held-out clips come from other images
    ds = VideoDeblurDataset(data_root=str(tmp_path / 'train'), layout='gopro')
    assert len(ds) == 2 and ds.get_data_info(0)['sequence_length'] == 3
    valid, errors = validate_dataset(str(tmp_path / 'test'))
    assert errors == [] and valid == [(written['test'][0], 3)]


def test_prepare_dataset_tool(tmp_path):
    generate_synthetic_dataset(str(tmp_path), num_train=2, num_test=0, num_frames=3,
                               size=(32, 32), subframes=3)
    ann = tmp_path / 'ann.txt'
    tool = [sys.executable, osp.join(ROOT, 'tools', 'prepare_dataset.py')]
    proc = subprocess.run(tool + [str(tmp_path / 'train'), '--out', str(ann)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(ann.read_text().splitlines()) == 2 and ann.read_text().split()[1] == '3'
    seq = sorted((tmp_path / 'train').iterdir())[0]
    (seq / 'sharp' / '000001.png').write_bytes(b'corrupt')
    (sorted((tmp_path / 'train').iterdir())[1] / 'blur' / '000002.png').unlink()
    proc = subprocess.run(tool + [str(tmp_path / 'train')], capture_output=True, text=True)
    assert proc.returncode == 1
    assert 'sharp/000001.png could not be decoded' in proc.stderr
    assert 'frame count mismatch, 2 blurry frames' in proc.stderr
    proc = subprocess.run(tool + [str(tmp_path / 'nothing')], capture_output=True, text=True)
    assert proc.returncode == 1 and 'nothing does not exist' in proc.stderr


def test_wide_variety_clips_move_objects_vary_exposure_and_keep_gt_clean():
    from vdeblur_mm.datasets.synthetic import procedural_image, sample_clip_options
    rng = np.random.default_rng(0)
    scene = procedural_image(rng, (160, 160))
    assert scene.shape == (160, 160, 3) and scene.dtype == np.float32 and scene.std() > 0.05
    # a still camera with one fast object: only the object's region blurs and changes
    still_bg = np.full((128, 128, 3), 0.5, np.float32)
    blurry, sharp = synthesize_clip(still_bg, np.random.default_rng(1), 3, (64, 64),
                                    subframes=7, max_blur_px=0.0, max_angle=0.0, max_zoom=0.0,
                                    objects=[scene], object_blur_px=20.0)
    moved = np.abs(sharp[0].astype(int) - sharp[2]).max(-1) > 0
    assert 0 < moved.mean() < 0.9  # the object moved, the background did not
    assert psnr(blurry, sharp) < 40
    # noise on the blurry frames only; exposure scales linear light on both
    b0, s0 = synthesize_clip(still_bg, np.random.default_rng(2), 2, (32, 32), max_blur_px=0.0,
                             max_angle=0.0, max_zoom=0.0, noise_sigma=2 / 255, exposure=2.0)
    assert np.all(s0 == s0[0, 0, 0])  # sharp stays flat
    assert 0.5 < (b0.astype(float) - s0).std() < 3.5
    assert s0[0, 0, 0, 0] > 127 + 40  # 0.5 sRGB brightened by a 2x exposure
    # the per-clip settings span sharp clips to strong blur
    draws = [sample_clip_options(np.random.default_rng(i), 16.0, [scene]) for i in range(200)]
    blur = np.array([d['max_blur_px'] for d in draws])
    assert (blur == 0).mean() > 0.1 and blur.max() > 14 and 0 < np.median(blur) < 12
    assert any(len(d['objects']) == 2 for d in draws) and any(not d['objects'] for d in draws)


def test_generated_dataset_varieties(tmp_path):
    import json
    wide = generate_synthetic_dataset(str(tmp_path / 'w'), num_train=4, num_test=1,
                                      num_frames=2, size=(32, 32), subframes=3)
    assert wide['train'][3].startswith('procedural_')  # every fourth training clip
    settings = json.loads((tmp_path / 'w' / 'synthetic_settings.json').read_text())
    assert settings['variety'] == 'wide' and settings['version'] >= 3
    generate_synthetic_dataset(str(tmp_path / 'c'), num_train=1, num_test=0, num_frames=2,
                               size=(32, 32), subframes=3, variety='camera')
    import pytest
    with pytest.raises(ValueError, match="variety must be 'wide' or 'camera'"):
        generate_synthetic_dataset(str(tmp_path / 'x'), variety='objects')
