"""The one chunking + tiling path: cover, blending, contract and settings."""
import pytest
import torch

from vdeblur_mm.models.layers.stitching import (
    InferenceSpec,
    StitchSettings,
    VideoStitcher,
    chunk_spans,
    resolve_inference_spec,
    stitch_chunks,
    stitch_tiles,
)
from vdeblur_mm.models.layers.video import sliding_window


def index_chunks(length, chunk, overlap, blend):
    """Run stitch_chunks over frame indices with a 'network' that returns, for every position,
    (global index, chunk start): shows which chunk produced each output."""
    calls = []

    def restore(items, needed):
        calls.append((items[0], len(items), list(needed)))
        return torch.tensor([[float(items[i]), float(items[0])] for i in needed])[None]

    out = torch.stack(list(stitch_chunks(range(length), restore, chunk, overlap, blend)), 1)
    return out[0], calls


@pytest.mark.parametrize('length,chunk,overlap', [(100, 48, 4), (48, 48, 4), (10, 48, 4),
                                                  (97, 8, 2), (23, 6, 3), (7, 3, 2), (1, 4, 1)])
def test_trim_takes_every_frame_from_exactly_the_chunk_chunk_spans_names(length, chunk, overlap):
    out, calls = index_chunks(length, chunk, overlap, 'trim')
    assert out[:, 0].tolist() == list(range(length))  # each frame once, in order
    spans = chunk_spans(length, chunk, overlap)
    assert [c[0] for c in calls] == [s for s, _, _ in spans]
    for (start, size, needed), (s, a, b) in zip(calls, spans):
        assert size == min(chunk, length) and needed == list(range(a, b))
        assert all(out[start + i, 1] == start for i in needed)
    # the boundary sits overlap // 2 frames before the end of the earlier chunk
    for (s0, _, _), (s1, a1, _) in zip(spans, spans[1:]):
        assert s1 + a1 == s0 + min(chunk, length) - overlap // 2


def test_average_blend_averages_every_overlap():
    out, calls = index_chunks(10, 4, 2, 'average')
    assert out[:, 0].tolist() == list(range(10))  # the mean of equal values is exact
    starts = [c[0] for c in calls]
    assert starts == [0, 2, 4, 6]
    # frame 3 is in chunks 0 and 2 (starts 0, 2): its 'start' output is their mean
    assert out[3, 1] == pytest.approx(1.0)


def test_stream_reads_at_most_one_chunk_ahead():
    seen = []

    def frames():
        for i in range(20):
            seen.append(i)
            yield i

    gen = stitch_chunks(frames(), lambda items, needed: torch.zeros(1, len(needed)), 6, 2)
    next(gen)
    assert len(seen) <= 6 + 4


@pytest.mark.parametrize('blend', ['trim', 'average'])
@pytest.mark.parametrize('scale', [1, 2])
def test_tiles_equal_whole_frame_for_a_per_pixel_network(blend, scale):
    x = torch.rand(1, 2, 3, 70, 45)

    def run_tile(y0, x0, th, tw):
        tile = x[..., y0:y0 + th, x0:x0 + tw] * 3 - 1
        return tile.repeat_interleave(scale, -2).repeat_interleave(scale, -1)

    whole = run_tile(0, 0, 70, 45)
    tiled = stitch_tiles(run_tile, 70, 45, 32, 8, scale, blend)
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-6)


def test_trim_tiles_take_every_pixel_from_one_tile():
    ids = []

    def run_tile(y0, x0, th, tw):
        ids.append((y0, x0))
        return torch.full((1, th, tw), float(len(ids)))

    out = stitch_tiles(run_tile, 100, 40, 48, 16, 1, 'trim')
    assert ids == [(0, 0), (32, 0), (52, 0)]
    values = out[0, :, 0]
    # tile 1 keeps rows [0, 40), tile 2 [40, 72), tile 3 (aligned to the edge) [72, 100)
    assert values[:40].eq(1).all() and values[40:72].eq(2).all() and values[72:].eq(3).all()


def test_window_model_chunks_equal_one_slide_over_the_whole_clip():
    torch.manual_seed(0)
    x = torch.rand(2, 13, 3, 8, 8)
    weights = torch.rand(5)

    def window_net(w, context=None):  # depends on all frames of its window
        return (w * weights[None, :, None, None, None]).sum(1)

    spec = InferenceSpec(mode='window', window_frames=5)
    settings = StitchSettings.resolve(spec, dict(chunk_frames=6, chunk_overlap=1))
    assert settings.chunk_overlap == 4  # set to window_frames - 1
    with pytest.raises(ValueError, match='needs a chunk overlap of 4'):
        VideoStitcher(spec, StitchSettings(chunk_frames=6, chunk_overlap=1), window_net)
    stitcher = VideoStitcher(spec, settings, window_net)
    out = stitcher.restore_video(x)
    ref = sliding_window(window_net, x, 5, window_batch=100)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(stitcher.restore_window(x[:, :5]), window_net(x[:, :5]))


def test_clip_model_gets_exactly_its_frames_also_for_short_videos():
    calls = []

    def clip_net(x, context=None):
        calls.append(x.shape[1])
        return x * 2

    spec = InferenceSpec(mode='clip', window_frames=4)
    stitcher = VideoStitcher(spec, StitchSettings.resolve(spec, dict(chunk_overlap=2,
                                                                     blend='average')), clip_net)
    for t in (2, 4, 9):
        x = torch.rand(1, t, 3, 5, 6)
        torch.testing.assert_close(stitcher.restore_video(x), x * 2)
    assert set(calls) == {4}


def test_padding_and_scale_of_a_sequence_model():
    seen = []

    def net(x, context=None):
        seen.append(tuple(x.shape[-2:]))
        return torch.nn.functional.interpolate(x[0], scale_factor=2, mode='nearest')[None]

    spec = InferenceSpec(mode='sequence', size_multiple=8, min_size=16, scale=2)
    x = torch.rand(1, 3, 3, 10, 21)
    out = VideoStitcher(spec, StitchSettings(), net).restore_video(x)
    assert out.shape == (1, 3, 3, 20, 42) and seen == [(16, 24)]
    torch.testing.assert_close(out, x.repeat_interleave(2, -2).repeat_interleave(2, -1))


def test_contract_and_settings_errors_name_the_problem():
    with pytest.raises(ValueError, match='mode must be one of'):
        InferenceSpec(mode='frames')
    with pytest.raises(ValueError, match="mode 'clip' needs window_frames"):
        InferenceSpec(mode='clip')
    with pytest.raises(ValueError, match='odd window_frames'):
        InferenceSpec(mode='window', window_frames=4)
    with pytest.raises(ValueError, match='unknown inference_spec keys'):
        InferenceSpec.from_dict(dict(mode='sequence', frames=3))
    with pytest.raises(ValueError, match='Identity declares no inference contract'):
        resolve_inference_spec(torch.nn.Identity())
    with pytest.raises(ValueError, match='blend must be one of'):
        StitchSettings(blend='max')
    with pytest.raises(ValueError, match='tile_overlap < tile'):
        StitchSettings(tile=32, tile_overlap=32)
    with pytest.raises(TypeError, match='unknown stitching settings'):
        StitchSettings.resolve(InferenceSpec(mode='sequence'), overlap=3)
    spec = InferenceSpec(mode='sequence', size_multiple=8, min_size=64)
    with pytest.raises(ValueError, match='multiples of the model size multiple 8'):
        VideoStitcher(spec, StitchSettings(tile=68, tile_overlap=8), None)
    with pytest.raises(ValueError, match="smaller than the model's minimum"):
        VideoStitcher(spec, StitchSettings(tile=32, tile_overlap=8), None)


def test_settings_priority():
    spec = InferenceSpec(mode='sequence', chunk_frames=12)
    s = StitchSettings.resolve(spec, dict(tile=64, amp=True, inference_spec={}),
                               dict(tile=256, tile_overlap=16, chunk_frames=48),
                               tile=None, chunk_overlap=2)
    assert (s.chunk_frames, s.chunk_overlap, s.tile, s.tile_overlap, s.amp) == \
        (12, 2, 64, 16, True)
    assert StitchSettings.resolve(spec, dict(tile=64), tile=0).tile is None
