import numpy as np
import pytest
import torch
from torch import nn

from vdeblur_mm.inference import (
    FrameReader,
    FrameWriter,
    VideoReadError,
    VideoRestorer,
    tile_starts,
)
from vdeblur_mm.models.layers import pad_to_multiple


class PerFrameModel(nn.Module):
    """A model whose output frame depends only on its input frame (chunking must not matter).
    It records the clip lengths and sizes it was called with."""

    def __init__(self, spec=None):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(0.5))
        self.inference_spec = {'mode': 'sequence', **(spec or {})}
        self.calls = []

    def forward(self, x, mode='tensor'):
        self.calls.append(tuple(x.shape))
        return x * self.weight + 0.25


class CentreFrameModel(PerFrameModel):
    """'window' mode: returns the centre input frame."""

    def forward(self, x, mode='tensor'):
        self.calls.append(tuple(x.shape))
        return x[:, x.shape[1] // 2] * self.weight / self.weight


def frames_of(n, h=20, w=24, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def expected_per_frame(frames):
    return [np.clip(np.round(f.astype(np.float64) * 0.5 + 0.25 * 255), 0, 255).astype(np.uint8)
            for f in frames]


def test_tile_starts_cover_everything():
    assert tile_starts(100, 128, 16) == [0]
    assert tile_starts(300, 128, 32) == [0, 96, 172]
    with pytest.raises(ValueError, match='must be smaller than the tile'):
        tile_starts(300, 32, 32)


def test_pad_to_multiple_and_min_size():
    x = torch.rand(1, 2, 3, 10, 13)
    y = pad_to_multiple(x, 4, 1)
    assert y.shape[-2:] == (12, 16) and torch.equal(y[..., :10, :13], x)
    assert pad_to_multiple(x, 4, 64).shape[-2:] == (64, 64)


@pytest.mark.parametrize('n', [1, 5, 8, 13, 30])
def test_sequence_chunks_emit_each_frame_once(n):
    model = PerFrameModel()
    frames = frames_of(n)
    out = list(VideoRestorer(model, chunk_frames=6, chunk_overlap=2)(frames))
    assert len(out) == n
    for got, exp in zip(out, expected_per_frame(frames)):
        np.testing.assert_array_equal(got, exp)
    # memory is bounded: no call sees more than chunk_frames frames; the last chunk is full
    assert max(c[1] for c in model.calls) <= 6
    if n >= 6:
        assert all(c[1] == 6 for c in model.calls)


def test_tiles_and_padding_match_whole_frame():
    frames = frames_of(4, h=50, w=70)
    model = PerFrameModel(dict(size_multiple=8, min_size=16))
    whole = list(VideoRestorer(model, chunk_frames=4, chunk_overlap=0)(frames))
    tiled = list(VideoRestorer(model, chunk_frames=4, chunk_overlap=0, tile=32,
                               tile_overlap=8)(frames))
    for a, b, e in zip(whole, tiled, expected_per_frame(frames)):
        np.testing.assert_array_equal(a, e)
        np.testing.assert_array_equal(b, e)
    assert all(c[-1] % 8 == 0 and c[-2] % 8 == 0 for c in model.calls)


@pytest.mark.parametrize('n', [1, 2, 6, 11])
def test_window_mode_returns_centre_frames(n):
    model = CentreFrameModel(dict(mode='window', window_frames=5))
    frames = frames_of(n)
    out = list(VideoRestorer(model, window_batch=3)(frames))
    assert len(out) == n
    for got, exp in zip(out, frames):
        np.testing.assert_array_equal(got, exp)
    assert all(c[1] == 5 for c in model.calls)


def test_bad_specs():
    with pytest.raises(ValueError, match='Linear declares no inference contract'):
        VideoRestorer(nn.Linear(1, 1))
    with pytest.raises(ValueError, match='needs window_frames'):
        VideoRestorer(PerFrameModel(dict(mode='window')))
    with pytest.raises(ValueError, match='chunk_overlap < chunk_frames'):
        VideoRestorer(PerFrameModel(), chunk_frames=4, chunk_overlap=4)
    with pytest.raises(ValueError, match="smaller than the model's minimum"):
        VideoRestorer(PerFrameModel(dict(min_size=256)), tile=128)


def test_video_roundtrip_and_errors(tmp_path):
    frames = frames_of(7, h=64, w=80)
    with FrameWriter(str(tmp_path / 'v.mp4'), fps=12) as w:
        for f in frames:
            w.write(f)
    reader = FrameReader(str(tmp_path / 'v.mp4'))
    assert (reader.height, reader.width) == (64, 80) and reader.fps == pytest.approx(12)
    assert len(list(reader)) == 7
    with FrameWriter(str(tmp_path / 'frames')) as w:
        for f in frames:
            w.write(f)
    back = list(FrameReader(str(tmp_path / 'frames')))
    np.testing.assert_array_equal(back[3], frames[3])

    (tmp_path / 'broken.mp4').write_bytes(b'\x00' * 1000)
    with pytest.raises(VideoReadError, match='cannot read video .*broken.mp4'):
        FrameReader(str(tmp_path / 'broken.mp4'))
    with pytest.raises(VideoReadError, match='does not exist'):
        FrameReader(str(tmp_path / 'missing.mp4'))
    (tmp_path / 'frames' / '00000003.png').write_bytes(b'garbage')
    with pytest.raises(VideoReadError, match='00000003.png could not be decoded'):
        list(FrameReader(str(tmp_path / 'frames')))
