"""x4 VSRDB data tools: LR frames (prepare_dataset --downsample, synthetic lr_scale) and
pseudo-GT flows (generate_pseudo_flows, RAFT from a local file or DIS)."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from vdeblur_mm.datasets import (
    VideoDeblurDataset,
    build_flow_estimator,
    downsample_frame,
    generate_pseudo_flows,
    generate_synthetic_dataset,
    validate_dataset,
)

from ..conftest import write_sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LAYOUT = dict(blur='{seq}/blur_x4', sharp='{seq}/sharp', sharp_lr='{seq}/sharp_x4',
              flow='{seq}/flow_x4')


def textured(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 1.5)
    return np.clip((img - img.min()) / (img.max() - img.min()) * 255, 0, 255).astype(np.uint8)


def make_moving_clip(root, seq='s', num=4, h=48, w=48, speed=2):
    """LR sharp frames whose content moves ``speed`` px/frame to the right."""
    base = textured(h, w + speed * num + 8)
    frames = [base[:, 8 - speed * t + speed * num:8 - speed * t + speed * num + w]
              for t in range(num)]
    for kind in ('blur_x4', 'sharp_x4'):
        write_sequence(osp.join(root, seq, kind), frames)
    write_sequence(osp.join(root, seq, 'sharp'), [np.zeros((4 * h, 4 * w, 3), np.uint8)] * num)


def test_downsample_frame_methods():
    flat = np.full((16, 24, 3), 77, np.uint8)
    for method in ('matlab', 'cv2'):
        out = downsample_frame(flat, 4, method)
        assert out.shape == (4, 6, 3) and out.dtype == np.uint8 and (out == 77).all()
    img = textured(32, 32)
    a, b = downsample_frame(img, 4, 'matlab'), downsample_frame(img, 4, 'cv2')
    assert a.shape == b.shape == (8, 8, 3) and np.abs(a.astype(int) - b).max() > 0
    with pytest.raises(ValueError, match='not a multiple of 4'):
        downsample_frame(np.zeros((30, 32, 3), np.uint8), 4)
    with pytest.raises(ValueError, match='downsampling method'):
        downsample_frame(img, 4, 'lanczos')


def test_dis_pseudo_flows_point_from_the_centre_to_the_neighbours(tmp_path):
    make_moving_clip(str(tmp_path), speed=2)
    written = generate_pseudo_flows(str(tmp_path), LAYOUT, build_flow_estimator('dis'))
    assert written == {'s': 4}  # centres 1 and 2, two neighbours each
    assert sorted(os.listdir(tmp_path / 's' / 'flow_x4')) == [
        '000001_000000.npy', '000001_000002.npy', '000002_000001.npy', '000002_000003.npy']
    nxt = np.load(tmp_path / 's' / 'flow_x4' / '000001_000002.npy')
    prev = np.load(tmp_path / 's' / 'flow_x4' / '000001_000000.npy')
    assert nxt.shape == (48, 48, 2) and nxt.dtype == np.float32
    inner = (slice(8, -8), slice(8, -8))
    # content moves right: centre(p) ~ next(p + (2, 0)), prev(p - (2, 0))
    assert np.median(nxt[inner][..., 0]) == pytest.approx(2, abs=0.3)
    assert np.median(prev[inner][..., 0]) == pytest.approx(-2, abs=0.3)
    assert abs(np.median(nxt[inner][..., 1])) < 0.3
    # existing files are kept; the dataset then finds every flow
    assert generate_pseudo_flows(str(tmp_path), LAYOUT, build_flow_estimator('dis')) == {'s': 0}
    item = VideoDeblurDataset(data_root=str(tmp_path), layout=LAYOUT, with_flows=True,
                              extra_frames=['sharp_lr']).get_data_info(0)
    assert item['flow_dir'] == str(tmp_path / 's' / 'flow_x4')


def test_raft_pseudo_flows_from_a_local_checkpoint(tmp_path):
    from torchvision.models.optical_flow import raft_small
    torch.manual_seed(0)
    ckpt = tmp_path / 'raft_small_random.pth'
    torch.save(raft_small(weights=None).state_dict(), ckpt)
    with pytest.raises(FileNotFoundError, match=r"RAFT checkpoint '.*missing.pth' does not "
                       'exist: pass a local'):
        build_flow_estimator('raft', str(tmp_path / 'missing.pth'))
    with pytest.raises(FileNotFoundError, match='RAFT checkpoint None'):
        build_flow_estimator('raft')
    make_moving_clip(str(tmp_path / 'data'), num=3, h=20, w=28)  # not multiples of 8
    estimator = build_flow_estimator('raft', str(ckpt), raft_variant='small', num_flow_updates=2)
    assert generate_pseudo_flows(str(tmp_path / 'data'), LAYOUT, estimator,
                                 channel_order='bgr') == {'s': 2}
    flow = np.load(tmp_path / 'data' / 's' / 'flow_x4' / '000001_000002.npy')
    assert flow.shape == (20, 28, 2) and flow.dtype == np.float32 and np.isfinite(flow).all()


def tool_main(monkeypatch, name):
    """A tool's ``main`` run in this process (a subprocess costs seconds of imports)."""
    import importlib
    monkeypatch.syspath_prepend(osp.join(ROOT, 'tools'))
    return importlib.import_module(name).main


def test_generate_pseudo_flows_tool(tmp_path, capsys, monkeypatch):
    generate_synthetic_dataset(str(tmp_path), num_train=1, num_test=0, num_frames=3,
                               size=(32, 32), subframes=3, lr_scale=4)
    main = tool_main(monkeypatch, 'generate_pseudo_flows')
    assert main([str(tmp_path / 'train'), '--layout', 'gopro_x4', '--estimator', 'dis']) == 0
    assert 'wrote 2 flow files for 1 sequences' in capsys.readouterr().out
    seq = os.listdir(tmp_path / 'train')[0]
    assert np.load(tmp_path / 'train' / seq / 'flow_x4' / '000001_000000.npy').shape == (8, 8, 2)



def test_generate_pseudo_flows_tool_errors(tmp_path, capsys, monkeypatch):
    main = tool_main(monkeypatch, 'generate_pseudo_flows')
    assert main([str(tmp_path), '--checkpoint', str(tmp_path / 'raft-sintel.pth')]) == 1
    err = capsys.readouterr().err
    assert 'raft-sintel.pth' in err and 'nothing is downloaded' in err
    assert main([str(tmp_path), '--estimator', 'dis']) == 1
    assert 'no sequence found under' in capsys.readouterr().err


def test_prepare_dataset_downsample_makes_gopro_x4(tmp_path, capsys, monkeypatch):
    generate_synthetic_dataset(str(tmp_path), num_train=1, num_test=0, num_frames=2,
                               size=(32, 48), subframes=3)
    main = tool_main(monkeypatch, 'prepare_dataset')
    assert main([str(tmp_path / 'train'), '--downsample', '4']) == 0
    assert 'wrote 4 frames downsampled x4 (matlab)' in capsys.readouterr().out
    seq = os.listdir(tmp_path / 'train')[0]
    hr = cv2.imread(str(tmp_path / 'train' / seq / 'blur' / '000001.png'))
    lr = cv2.imread(str(tmp_path / 'train' / seq / 'blur_x4' / '000001.png'))
    assert lr.shape == (8, 12, 3)
    np.testing.assert_array_equal(lr, downsample_frame(hr, 4, 'matlab'))
    valid, errors = validate_dataset(str(tmp_path / 'train'), 'gopro_x4', scale=4)
    assert errors == [] and valid == [(seq, 2)]
    valid, errors = validate_dataset(str(tmp_path / 'train'), 'gopro_x4')
    assert 'frame size mismatch' in errors[0]


def test_synthetic_lr_scale(tmp_path):
    generate_synthetic_dataset(str(tmp_path), num_train=1, num_test=1, num_frames=2,
                               size=(32, 32), subframes=3, lr_scale=4, lr_method='cv2')
    for split in ('train', 'test'):
        ds = VideoDeblurDataset(data_root=str(tmp_path / split), layout='gopro_x4',
                                extra_frames=['sharp_lr'])
        item = ds.get_data_info(0)
        assert cv2.imread(item['blur_frames'][0]).shape == (8, 8, 3)
        assert cv2.imread(item['sharp_lr_frames'][0]).shape == (8, 8, 3)
        assert cv2.imread(item['sharp_frames'][0]).shape == (32, 32, 3)
    with pytest.raises(ValueError, match='not a multiple of lr_scale 4'):
        generate_synthetic_dataset(str(tmp_path / 'x'), size=(30, 32), lr_scale=4)
