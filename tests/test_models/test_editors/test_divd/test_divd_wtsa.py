"""DIVD's WTSA + MRPE against a per-window loop, window locality, bias indexing, padding."""
import math

import pytest
import torch

from vdeblur_mm.models.editors.divd import WindowTemporalSelfAttention, relative_position_index


def randomised(module, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.5)
    return module


def reference(module, x):
    """Per window: gather the real (unpadded) tokens of all frames, add the frame encoding,
    attend with the table bias looked up pixel pair by pixel pair, write back."""
    n, f, c, h, w = x.shape
    m, heads = module.window, module.num_heads
    out = x.clone()
    for b in range(n):
        for y0 in range(0, h, m):
            for x0 in range(0, w, m):
                pos = [(fr, yy, xx) for fr in range(f) for yy in range(y0, min(y0 + m, h))
                       for xx in range(x0, min(x0 + m, w))]
                tok = torch.stack([module.norm(x[b, fr, :, yy, xx]) + module.frame_encoding[fr]
                                   for fr, yy, xx in pos])
                q, k, v = module.qkv(tok).chunk(3, -1)
                d = c // heads
                res = []
                for hd in range(heads):
                    s = q[:, hd * d:(hd + 1) * d] @ k[:, hd * d:(hd + 1) * d].T / math.sqrt(d)
                    for i, (_, yi, xi) in enumerate(pos):
                        for j, (_, yj, xj) in enumerate(pos):
                            dy, dx = (yi - y0) - (yj - y0) + m - 1, (xi - x0) - (xj - x0) + m - 1
                            s[i, j] = s[i, j] + module.bias_table[dy * (2 * m - 1) + dx, hd]
                    res.append(s.softmax(-1) @ v[:, hd * d:(hd + 1) * d])
                o = module.proj(torch.cat(res, -1))
                for i, (fr, yy, xx) in enumerate(pos):
                    out[b, fr, :, yy, xx] = x[b, fr, :, yy, xx] + o[i]
    return out


@pytest.mark.parametrize('size', [(4, 6), (5, 7)])  # divisible by 2, and padded + masked
def test_wtsa_equals_a_per_window_loop(size):
    module = randomised(WindowTemporalSelfAttention(8, 3, 2, num_heads=2)).double()
    x = torch.randn(2, 3, 8, *size, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(module(x), reference(module, x), atol=1e-10)


def test_wtsa_mixes_frames_within_a_window_only():
    module = randomised(WindowTemporalSelfAttention(8, 4, 3))
    x = torch.randn(1, 4, 8, 9, 9)
    base = module(x).detach()
    same_window = x.clone()
    same_window[0, 2, :, 4, 5] += 3 * torch.randn(8)  # frame 2, window (1, 1)
    out = module(same_window).detach()
    # frame 0, pixel (3, 3) shares window (1, 1) (rows/cols 3-5) with the change
    assert (out[0, 0, :, 3, 3] - base[0, 0, :, 3, 3]).abs().max() > 1e-4
    # outside window (1, 1), no frame changes
    mask = torch.ones(9, 9, dtype=torch.bool)
    mask[3:6, 3:6] = False
    assert torch.equal(out[..., mask], base[..., mask])


def test_relative_position_index_on_a_2x2_window():
    # tokens (0,0), (0,1), (1,0), (1,1); index (dy + 1) * 3 + (dx + 1)
    expected = torch.tensor([[4, 3, 1, 0],
                             [5, 4, 2, 1],
                             [7, 6, 4, 3],
                             [8, 7, 5, 4]])
    assert torch.equal(relative_position_index(2), expected)
    module = WindowTemporalSelfAttention(4, 2, 2)
    bias = module.attention_bias()
    assert bias.shape == (1, 8, 8)
    # shared across frame pairs: every (frame, frame) block is the same spatial table
    assert torch.equal(bias[:, :4, 4:], bias[:, :4, :4])
    assert torch.equal(bias[0, :4, :4], module.bias_table[expected, 0])


def test_wtsa_starts_as_identity_has_gradients_and_checks_input():
    module = WindowTemporalSelfAttention(8, 4, 3, frame_encoding=False, relative_bias=False)
    x = torch.randn(1, 4, 8, 10, 7, requires_grad=True)
    assert torch.equal(module(x), x)  # zero-initialised output projection
    randomised(module)
    module(x).square().mean().backward()
    assert x.grad is not None and all(p.grad is not None for p in module.parameters())
    with pytest.raises(ValueError, match='built for 4 frames'):
        module(torch.randn(1, 3, 8, 6, 6))
    with pytest.raises(ValueError, match='divisible by num_heads'):
        WindowTemporalSelfAttention(6, 4, 2, num_heads=4)


def test_wtsa_on_a_720x1280_frame_level():
    """A 720x1280 frame at 1/8 resolution (90x160) with a window of 4 (not a divisor of 90)."""
    module = WindowTemporalSelfAttention(16, 4, 4, num_heads=2)
    x = torch.randn(1, 4, 16, 90, 160)
    with torch.no_grad():
        assert module(x).shape == x.shape
