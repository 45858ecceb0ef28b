import pytest
import torch

from vdeblur_mm.models.layers import pad_to_multiple, sliding_window, window_indices


def test_window_indices_replicate_like_edvr_test_script():
    assert window_indices(10, 0, 5) == [0, 0, 0, 1, 2]
    assert window_indices(10, 1, 5) == [0, 0, 1, 2, 3]
    assert window_indices(10, 9, 5) == [7, 8, 9, 9, 9]
    assert window_indices(10, 4, 5) == [2, 3, 4, 5, 6]
    assert window_indices(1, 0, 3) == [0, 0, 0]
    assert window_indices(10, 0, 5, 'reflection') == [2, 1, 0, 1, 2]
    assert window_indices(10, 9, 5, 'reflection') == [7, 8, 9, 8, 7]
    with pytest.raises(ValueError, match='padding'):
        window_indices(10, 0, 5, 'circle')


def test_sliding_window_restores_every_frame_in_bounded_batches():
    x = torch.arange(2 * 6, dtype=torch.float32).view(2, 6, 1, 1, 1).expand(2, 6, 1, 2, 3)
    sizes = []

    def fn(windows):  # (k, 3, c, h, w) -> the window's mean (k, c, h, w)
        sizes.append(windows.shape[0])
        assert windows.shape[1:] == (3, 1, 2, 3)
        return windows.mean(1)

    out = sliding_window(fn, x, 3, window_batch=4)
    assert out.shape == (2, 6, 1, 2, 3)
    assert max(sizes) <= 4
    for b in range(2):
        for t in range(6):
            idx = window_indices(6, t, 3)
            assert torch.allclose(out[b, t], x[b, idx].mean(0))
    sub = sliding_window(fn, x, 3, window_batch=1, centres=[4, 1])
    torch.testing.assert_close(sub, out[:, [4, 1]])


def test_sliding_window_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r'\(n, t, c, h, w\)'):
        sliding_window(lambda w: w[:, 0], torch.zeros(3, 1, 2, 2), 3)
    with pytest.raises(ValueError, match='odd'):
        sliding_window(lambda w: w[:, 0], torch.zeros(1, 3, 1, 2, 2), 4)


def test_pad_to_multiple():
    x = torch.rand(2, 3, 3, 20, 36)
    y = pad_to_multiple(x, 16)
    assert y.shape == (2, 3, 3, 32, 48) and torch.equal(y[..., :20, :36], x)
    assert torch.equal(y[..., 20, :36], x[..., 18, :])  # reflect
    assert pad_to_multiple(x, 4) is x
    tiny = torch.rand(1, 3, 4, 4)
    z = pad_to_multiple(tiny, 16)  # too small to reflect: replicate
    assert z.shape == (1, 3, 16, 16) and torch.equal(z[..., 15, 15], tiny[..., 3, 3])
