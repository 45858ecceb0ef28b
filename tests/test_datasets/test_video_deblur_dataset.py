import os
import os.path as osp

import numpy as np
import pytest

from vdeblur_mm.datasets import (
    DatasetError,
    LoadVideoFrames,
    SampleVideoClip,
    VideoDeblurDataset,
    discover_sequences,
)

from ..conftest import random_frames, write_sequence

LAYOUT_DIRS = {
    'gopro': ('{seq}/blur', '{seq}/sharp'),
    'dvd': ('{seq}/input', '{seq}/GT'),
    'bsd': ('{seq}/Blur/RGB', '{seq}/Sharp/RGB'),
    'reds': ('train_blur/{seq}', 'train_sharp/{seq}'),
}


def make_dataset(root, layout, seqs=('a', 'b'), num=5, rng=None):
    rng = rng or np.random.default_rng(0)
    blur_t, sharp_t = LAYOUT_DIRS[layout]
    for seq in seqs:
        write_sequence(osp.join(root, blur_t.format(seq=seq)), random_frames(rng, num))
        write_sequence(osp.join(root, sharp_t.format(seq=seq)), random_frames(rng, num))


@pytest.mark.parametrize('layout', sorted(LAYOUT_DIRS))
def test_layouts_are_discovered(tmp_path, layout):
    make_dataset(str(tmp_path), layout, seqs=('000', '011', 'x'))
    assert discover_sequences(str(tmp_path), layout) == ['000', '011', 'x']
    ds = VideoDeblurDataset(data_root=str(tmp_path), layout=layout, exclude_sequences=['x'])
    assert [d['key'] for d in ds] == ['000', '011']
    item = ds.get_data_info(0)
    assert item['sequence_length'] == 5 and len(item['sharp_frames']) == 5
    assert item['blur_frames'][0].endswith(osp.join(*LAYOUT_DIRS[layout][0].format(
        seq='000').split('/'), '000000.png'))


def test_annotation_file_and_sequence_selection(tmp_path):
    make_dataset(str(tmp_path), 'gopro', seqs=('a', 'b', 'c'))
    (tmp_path / 'ann.txt').write_text('# comment\nc 5\na\n')
    ds = VideoDeblurDataset(data_root=str(tmp_path), ann_file='ann.txt')
    assert [d['key'] for d in ds] == ['c', 'a']
    ds = VideoDeblurDataset(data_root=str(tmp_path), sequences=['b'])
    assert len(ds) == 1
    with pytest.raises(DatasetError, match=r"sequences \['zz'\] not found"):
        VideoDeblurDataset(data_root=str(tmp_path), sequences=['zz'])
    (tmp_path / 'bad.txt').write_text('a 7\n')
    with pytest.raises(DatasetError, match='annotation says 7 frames'):
        VideoDeblurDataset(data_root=str(tmp_path), ann_file='bad.txt')


def test_missing_and_mismatched_folders(tmp_path):
    with pytest.raises(DatasetError, match='does not exist'):
        VideoDeblurDataset(data_root=str(tmp_path / 'nope'))
    with pytest.raises(DatasetError, match='no sequence found'):
        VideoDeblurDataset(data_root=str(tmp_path))
    make_dataset(str(tmp_path), 'gopro', seqs=('a', ))
    os.remove(tmp_path / 'a' / 'sharp' / '000004.png')
    with pytest.raises(DatasetError, match=r"frame count mismatch, 5 blurry frames in .*a.blur "
                       r'but 4 sharp frames'):
        VideoDeblurDataset(data_root=str(tmp_path))
    os.rename(tmp_path / 'a' / 'blur' / '000004.png', tmp_path / 'a' / 'blur' / '000009.png')
    os.remove(tmp_path / 'a' / 'blur' / '000003.png')
    with pytest.raises(DatasetError, match=r'000009.png has no sharp frame of the same name'):
        VideoDeblurDataset(data_root=str(tmp_path))
    with pytest.raises(KeyError, match='unknown dataset layout'):
        VideoDeblurDataset(data_root=str(tmp_path), layout='gopr0')


def test_sample_video_clip(tmp_path):
    make_dataset(str(tmp_path), 'gopro', seqs=('a', ), num=7)
    item = VideoDeblurDataset(data_root=str(tmp_path)).get_data_info(0)
    np.random.seed(0)
    out = SampleVideoClip(num_frames=3, interval_list=[2])(dict(item))
    idx = out['frame_indices']
    assert len(idx) == 3 and idx[1] - idx[0] == 2 and idx[-1] < 7
    assert out['img_path'][0].endswith(f'{idx[0]:06d}.png') and 'blur' in out['img_path'][0]
    whole = SampleVideoClip(random_start=False)(dict(item))
    assert whole['frame_indices'] == list(range(7))
    centre = SampleVideoClip(num_frames=5, random_start=False, gt_frames='centre')(dict(item))
    assert isinstance(centre['gt_path'], str) and centre['gt_path'].endswith('000002.png')
    with pytest.raises(ValueError, match="sequence 'a' has 7 frames, fewer than a clip of 4 "
                       'frames at interval 3'):
        SampleVideoClip(num_frames=4, interval_list=[3])(dict(item))


def test_load_video_frames_errors(tmp_path):
    make_dataset(str(tmp_path), 'gopro', seqs=('a', ), num=3)
    item = VideoDeblurDataset(data_root=str(tmp_path)).get_data_info(0)
    results = SampleVideoClip(random_start=False)(dict(item))
    results = LoadVideoFrames(key='img', channel_order='rgb')(results)
    results = LoadVideoFrames(key='gt', channel_order='rgb')(results)
    assert len(results['img']) == 3 and results['gt'][0].shape == (32, 48, 3)

    corrupt = tmp_path / 'a' / 'sharp' / '000001.png'
    corrupt.write_bytes(b'not a png at all')
    results = SampleVideoClip(random_start=False)(dict(item))
    with pytest.raises(IOError, match=r'000001.png could not be decoded'):
        LoadVideoFrames(key='gt')(results)

    from ..conftest import write_sequence as ws
    ws(str(tmp_path / 'a' / 'sharp'), [np.zeros((16, 16, 3), np.uint8)] * 3)
    results = SampleVideoClip(random_start=False)(dict(item))
    results = LoadVideoFrames(key='img')(results)
    with pytest.raises(ValueError, match=r'frame size mismatch: .*000000.png is 16x16 but '
                       r'.*000000.png is 48x32'):
        LoadVideoFrames(key='gt')(results)
