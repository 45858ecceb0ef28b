"""x4 VSRDB data (FMA-Net): layouts with LR sharp frames and pseudo-flows, the training
transforms, and what mmagic's PackInputs + DataPreprocessor hand the model."""
import copy
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmagic.models.data_preprocessors import DataPreprocessor
from mmagic.registry import DATASETS
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

from vdeblur_mm.datasets import (
    DatasetError,
    FlipWithFlow,
    LoadPseudoFlows,
    ScaledPairedRandomCrop,
    VideoDeblurDataset,
)

from ..conftest import random_frames, write_sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LR_H, LR_W = 8, 12


def known_flow(centre, neighbour, h=LR_H, w=LR_W):
    """A flow whose values tell where each pixel and which file it came from."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xs + 100 * neighbour + 1000 * centre, -ys - 0.5], axis=-1)


def make_reds_vsrdb(root, split='train', seqs=('000', '001'), num=5, rng=None, flows=True):
    rng = rng or np.random.default_rng(0)
    for seq in seqs:
        write_sequence(osp.join(root, f'{split}_blur_bicubic/X4/{seq}'),
                       random_frames(rng, num, LR_H, LR_W), tmpl='{:08d}.png')
        write_sequence(osp.join(root, f'{split}_sharp_bicubic/X4/{seq}'),
                       random_frames(rng, num, LR_H, LR_W), tmpl='{:08d}.png')
        write_sequence(osp.join(root, f'{split}_sharp/{seq}'),
                       random_frames(rng, num, 4 * LR_H, 4 * LR_W), tmpl='{:08d}.png')
        if flows:
            folder = osp.join(root, f'{split}_flow_bicubic/X4/{seq}')
            os.makedirs(folder, exist_ok=True)
            for t in range(1, num - 1):
                for n in (t - 1, t + 1):
                    np.save(osp.join(folder, f'{t:08d}_{n:08d}.npy'), known_flow(t, n))


def read_rgb(path):
    return cv2.imread(path)[..., ::-1]


def test_reds_vsrdb_dataset_lists_lr_sharp_frames_and_flows(tmp_path):
    make_reds_vsrdb(str(tmp_path))
    ds = VideoDeblurDataset(data_root=str(tmp_path), layout='reds_vsrdb', exclude_sequences=['001'],
                            extra_frames=['sharp_lr'], with_flows=True)
    item = ds.get_data_info(0)
    assert item['key'] == '000' and len(item['sharp_lr_frames']) == 5
    assert item['sharp_lr_frames'][2].endswith(osp.join('train_sharp_bicubic', 'X4', '000',
                                                        '00000002.png'))
    assert item['flow_dir'] == osp.join(str(tmp_path), 'train_flow_bicubic/X4/000')
    # without the options: the deblurring items as before
    plain = VideoDeblurDataset(data_root=str(tmp_path), layout='reds_vsrdb').get_data_info(0)
    assert 'sharp_lr_frames' not in plain and 'flow_dir' not in plain


def test_missing_flows_and_lr_frames_raise_clear_errors(tmp_path):
    make_reds_vsrdb(str(tmp_path), seqs=('000', ))
    missing = tmp_path / 'train_flow_bicubic/X4/000/00000002_00000003.npy'
    missing.unlink()
    with pytest.raises(DatasetError, match=r"sequence '000': 1 pseudo-flow files missing in "
                       r'.*train_flow_bicubic.X4.000, e.g. 00000002_00000003.npy; generate them '
                       r'with tools/generate_pseudo_flows.py'):
        VideoDeblurDataset(data_root=str(tmp_path), layout='reds_vsrdb', with_flows=True)
    # found missing at load time too (a dataset built before the file went away)
    item = VideoDeblurDataset(data_root=str(tmp_path), layout='reds_vsrdb').get_data_info(0)
    item['flow_dir'] = str(tmp_path / 'train_flow_bicubic/X4/000')
    results = dict(item, img_path=item['blur_frames'][1:4])
    with pytest.raises(DatasetError, match=r'pseudo-flow file .*00000002_00000003.npy does not '
                       r'exist .*tools/generate_pseudo_flows.py'):
        LoadPseudoFlows()(results)
    with pytest.raises(DatasetError, match='the dataset gives no flow folder: build '
                       'VideoDeblurDataset with with_flows=True'):
        LoadPseudoFlows()(dict(key='000', img_path=item['blur_frames'][:3]))
    with pytest.raises(DatasetError, match=r"pseudo-GT flows were asked for, but layout \{.*\} "
                       r"names no 'flow' folder"):
        VideoDeblurDataset(data_root=str(tmp_path), layout=dict(
            blur='train_blur_bicubic/X4/{seq}', sharp='train_sharp/{seq}'), with_flows=True)
    with pytest.raises(DatasetError, match="extra_frames asks for 'sharp_lr' frames, but layout"):
        VideoDeblurDataset(data_root=str(tmp_path), layout='reds', extra_frames=['sharp_lr'])
    os.rename(tmp_path / 'train_sharp_bicubic/X4/000/00000004.png',
              tmp_path / 'train_sharp_bicubic/X4/000/00000009.png')
    with pytest.raises(DatasetError, match=r'blurry frame .*00000004.png has no sharp_lr frame of '
                       'the same name'):
        VideoDeblurDataset(data_root=str(tmp_path), layout='reds_vsrdb', extra_frames='sharp_lr')
    shutil_dir = tmp_path / 'train_flow_bicubic'
    for path in sorted(shutil_dir.rglob('*.npy')):
        path.unlink()
    for path in sorted(shutil_dir.rglob('*'), reverse=True):
        path.rmdir()
    with pytest.raises(DatasetError, match=r'pseudo-flow folder .*train_flow_bicubic.X4.000 does '
                       'not exist'):
        VideoDeblurDataset(data_root=str(tmp_path), layout='reds_vsrdb', with_flows=True)


def test_reds_vsrdb_config_train_split_and_reds4(tmp_path):
    """The base config: train = REDS train minus REDS4 + REDS val; val = REDS4, whole."""
    root = str(tmp_path)
    make_reds_vsrdb(root, 'train', seqs=('000', '001', '011', '015', '020', '021'), num=3)
    make_reds_vsrdb(root, 'val', seqs=('000', '029'), num=3)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/reds_vsrdb.py'))
    init_default_scope('mmagic')
    train_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    for sub in train_cfg.datasets:
        sub.data_root = root
        for step in sub.pipeline:
            if step['type'] == 'ScaledPairedRandomCrop':
                step['gt_patch_size'] = 16
    train = DATASETS.build(train_cfg)
    keys = [train.get_data_info(i)['key'] for i in range(len(train))]
    assert keys == ['001', '021', '000', '029']
    assert 'val_blur_bicubic' in train.get_data_info(2)['blur_frames'][0]
    sample = train[0]
    assert sample['inputs'].shape == (3, 3, 4, 4)
    assert sample['data_samples'].gt_img.shape == (3, 3, 16, 16)
    val_cfg = copy.deepcopy(cfg.val_dataloader.dataset)
    val_cfg.data_root = root
    val = DATASETS.build(val_cfg)
    assert [val.get_data_info(i)['key'] for i in range(len(val))] == ['000', '011', '015', '020']
    assert val[0]['inputs'].shape == (3, 3, LR_H, LR_W)
    assert val[0]['data_samples'].gt_img.shape == (3, 3, 4 * LR_H, 4 * LR_W)
    metric_types = [m['type'] for m in cfg.val_evaluator.metrics]
    assert metric_types.count('VideoPSNR') == 3 and 'TemporalFlowError' in metric_types


def vsrdb_train_pipeline(gt_patch_size, h_flip, v_flip):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/vsrdb_common.py'))
    pipeline = copy.deepcopy(cfg.vsrdb_train_pipeline)
    for step in pipeline:
        if step['type'] == 'ScaledPairedRandomCrop':
            step['gt_patch_size'] = gt_patch_size
        if step['type'] == 'FlipWithFlow':
            step['flip_ratio'] = float(h_flip if step['direction'] == 'horizontal' else v_flip)
        if step['type'] == 'PackInputs':  # what was drawn, for the test to check against
            step['meta_keys'] = step['meta_keys'] + ['frame_indices', 'crop_lq_top_left']
    return pipeline


@pytest.mark.parametrize('h_flip,v_flip', [(False, False), (True, False), (False, True),
                                           (True, True)])
def test_train_pipeline_and_preprocessor_give_the_model_aligned_clips(tmp_path, h_flip, v_flip):
    root = str(tmp_path)
    make_reds_vsrdb(root, seqs=('000', ), num=5)
    init_default_scope('mmagic')
    ds = VideoDeblurDataset(data_root=root, layout='reds_vsrdb', extra_frames=['sharp_lr'],
                            with_flows=True, num_input_frames=3,
                            pipeline=vsrdb_train_pipeline(16, h_flip, v_flip))
    np.random.seed(3)
    samples = [ds[0], ds[0]]
    batch = DataPreprocessor(mean=[0, 0, 0], std=[255, 255, 255],
                             data_keys=['gt_img', 'gt_lr'])(pseudo_collate(samples),
                                                            training=True)
    inputs, data_samples = batch['inputs'], batch['data_samples']
    assert inputs.shape == (2, 3, 3, 4, 4)
    assert data_samples.gt_img.shape == (2, 3, 3, 16, 16)
    assert data_samples.gt_lr.shape == (2, 3, 3, 4, 4)
    assert data_samples.gt_flow.shape == (2, 3, 2, 4, 4)
    assert data_samples.gt_flow.dtype == torch.float32
    for x in (inputs, data_samples.gt_img, data_samples.gt_lr):
        assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1 and x.max() > 0.5

    # compare with the files (RGB, in [0, 1]) at the frames and window drawn
    for n in range(2):
        meta = samples[n]['data_samples'].metainfo
        idx, (top, left) = meta['frame_indices'], meta['crop_lq_top_left']
        assert idx[1] - idx[0] == 1 and idx[2] - idx[1] == 1

        def expect(folder, i, scale=1):
            img = read_rgb(osp.join(root, folder, f'{i:08d}.png')).astype(np.float32) / 255
            img = img[scale * top:scale * (top + 4), scale * left:scale * (left + 4)]
            if h_flip:
                img = img[:, ::-1]
            if v_flip:
                img = img[::-1]
            return torch.from_numpy(img.copy()).permute(2, 0, 1)

        for t, i in enumerate(idx):
            torch.testing.assert_close(inputs[n, t], expect('train_blur_bicubic/X4/000', i))
            torch.testing.assert_close(data_samples.gt_lr[n, t],
                                       expect('train_sharp_bicubic/X4/000', i))
            torch.testing.assert_close(data_samples.gt_img[n, t], expect('train_sharp/000', i, 4))
            flow = data_samples.gt_flow[n, t].numpy()  # (2, h, w), LR pixels
            if t == 1:
                assert not flow.any()  # centre -> centre
                continue
            ref = known_flow(idx[1], i)[top:top + 4, left:left + 4].copy()
            if h_flip:
                ref = ref[:, ::-1].copy()
                ref[..., 0] *= -1
            if v_flip:
                ref = ref[::-1].copy()
                ref[..., 1] *= -1
            np.testing.assert_array_equal(flow, ref.transpose(2, 0, 1))


def test_test_mode_preprocessor_hands_bgr_and_metrics_follow(synthetic_vsrdb_root):
    """In validation mmagic's DataPreprocessor turns gt_img into BGR (and records it); the
    metrics' channel_order='auto' reads that record, so the standard Y-PSNR stays right."""
    from vdeblur_mm.evaluation import VideoPSNR
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/synthetic_vsrdb.py'))
    init_default_scope('mmagic')
    val_cfg = copy.deepcopy(cfg.val_dataloader.dataset)
    val_cfg.data_root = osp.join(synthetic_vsrdb_root, 'test')
    ds = DATASETS.build(val_cfg)
    sample = ds[0]
    rgb = sample['data_samples'].gt_img.clone()
    assert rgb.shape == (5, 3, 64, 64) and sample['inputs'].shape == (5, 3, 16, 16)
    pre = DataPreprocessor(mean=[0, 0, 0], std=[255, 255, 255], data_keys=['gt_img', 'gt_lr'])
    batch = pre(pseudo_collate([sample]), training=False)
    data_sample = batch['data_samples'][0] if isinstance(batch['data_samples'], list) else \
        batch['data_samples']
    gt = data_sample.gt_img[0] if data_sample.gt_img.ndim == 5 else data_sample.gt_img
    torch.testing.assert_close(gt, rgb.flip(1))  # BGR, uint8, not normalised
    record = data_sample.metainfo['gt_img_output_channel_order']
    assert (record[0] if isinstance(record, list) else record) == 'BGR'
    # a prediction off by a pure-red error: Y-PSNR with the standard BT.601 weights
    bgr = gt.float()
    pred = bgr.clone()
    pred[:, 2] = (pred[:, 2] + 20).clamp(max=255)  # channel 2 of BGR = red
    metric = VideoPSNR(convert_to='Y')
    metric.process([], [dict(gt_img=bgr, output=dict(pred_img=pred),
                             gt_img_output_channel_order=record, key='clip')])
    from mmagic.evaluation.metrics.psnr import psnr
    expected = np.mean([psnr(r, p, convert_to='Y', input_order='CHW', channel_order='rgb')
                        for r, p in zip(rgb.float(), pred.flip(1))])
    assert metric.results[-1]['PSNR'] == pytest.approx(expected, rel=1e-6)


def test_synthetic_vsrdb_fixture_trains_through_the_base_config(synthetic_vsrdb_root):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/synthetic_vsrdb.py'))
    init_default_scope('mmagic')
    train_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    train_cfg.data_root = osp.join(synthetic_vsrdb_root, 'train')
    for step in train_cfg.pipeline:
        if step['type'] == 'ScaledPairedRandomCrop':
            step['gt_patch_size'] = 32
    ds = DATASETS.build(train_cfg)
    assert len(ds) == 2
    sample = ds[1]
    assert sample['inputs'].shape == (3, 3, 8, 8)
    assert sample['data_samples'].gt_img.shape == (3, 3, 32, 32)
    assert sample['data_samples'].gt_lr.shape == (3, 3, 8, 8)
    flow = sample['data_samples'].gt_flow
    assert flow.shape == (3, 2, 8, 8) and not flow[1].any() and flow[0].abs().max() > 0


def test_crop_and_flip_errors():
    img = [np.zeros((8, 8, 3), np.uint8)] * 3
    with pytest.raises(ValueError, match='not a multiple of scale'):
        ScaledPairedRandomCrop(gt_patch_size=30)
    with pytest.raises(ValueError, match=r'gt frames are 16x16, expected 32x32 \(4x the img'):
        ScaledPairedRandomCrop(16)(dict(img=img, gt=[np.zeros((16, 16, 3))] * 3))
    with pytest.raises(ValueError, match=r'LR frames of 8x8 are smaller than the LR patch 16x16'):
        ScaledPairedRandomCrop(64)(dict(img=img, gt=[np.zeros((32, 32, 3))] * 3))
    with pytest.raises(ValueError, match='direction'):
        FlipWithFlow(direction='diagonal')
    single = FlipWithFlow(flip_ratio=1, direction='vertical')(
        dict(gt_flow=np.ones((2, 3, 2), np.float32)))
    assert (single['gt_flow'][..., 1] == -1).all() and (single['gt_flow'][..., 0] == 1).all()


def test_pipeline_compose_repr():
    pipeline = Compose(vsrdb_train_pipeline(256, True, True))
    assert 'ScaledPairedRandomCrop(gt_patch_size=256, scale=4' in repr(pipeline)
