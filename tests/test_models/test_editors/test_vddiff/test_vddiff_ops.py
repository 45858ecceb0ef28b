import pytest
import torch
import torch.nn.functional as F

from vdeblur_mm.models.editors.vddiff.vddiff_ops import (
    haar_downsample,
    haar_upsample,
    pixel_dynamic_dwconv,
)


def official_haar_weights(channels):
    """The official fixed filters (wave_tf.HaarDownsampling): 4 per channel, +-1."""
    w = torch.ones(4, 1, 2, 2, dtype=torch.float64)
    w[1, 0, 0, 1] = w[1, 0, 1, 1] = -1
    w[2, 0, 1, 0] = w[2, 0, 1, 1] = -1
    w[3, 0, 1, 0] = w[3, 0, 0, 1] = -1
    return torch.cat([w] * channels, 0)


def test_haar_matches_the_official_conv_layout_and_inverts_exactly():
    torch.manual_seed(0)
    n, c, h, w = 2, 5, 8, 12
    x = torch.randn(n, c, h, w, dtype=torch.float64)
    ll, high = haar_downsample(x)
    weights = official_haar_weights(c)
    ref = F.conv2d(x, weights, stride=2, groups=c) / 4.0  # channel i * 4 + band
    ref = ref.view(n, c, 4, h // 2, w // 2).transpose(1, 2).reshape(n, 4 * c, h // 2, w // 2)
    assert torch.allclose(ll, ref[:, :c], atol=1e-14)
    assert torch.allclose(high, ref[:, c:], atol=1e-14)
    assert torch.allclose(ll, F.avg_pool2d(x, 2), atol=1e-14)  # LL = 2x2 mean
    back = haar_upsample(ll, high)
    assert torch.allclose(back, x, atol=1e-14)  # perfect reconstruction
    # and the official inverse (conv_transpose2d with the same filters) agrees
    bands = torch.cat([ll, high], 1).view(n, 4, c, h // 2, w // 2).transpose(1, 2)
    official_back = F.conv_transpose2d(bands.reshape(n, 4 * c, h // 2, w // 2), weights,
                                       stride=2, groups=c)
    assert torch.allclose(back, official_back, atol=1e-14)


def test_haar_bad_input():
    with pytest.raises(ValueError, match='must be even'):
        haar_downsample(torch.zeros(1, 2, 5, 6))
    with pytest.raises(ValueError, match=r'\(n, 3c, h, w\)'):
        haar_upsample(torch.zeros(1, 2, 3, 3), torch.zeros(1, 4, 3, 3))


def naive_dynamic_dwconv(x, kernels, k):
    n, c, h, w = x.shape
    groups = kernels.shape[1] // (k * k)
    out = torch.zeros_like(x)
    for b in range(n):
        for ch in range(c):
            g = ch // (c // groups)
            for y in range(h):
                for xx in range(w):
                    acc = 0.0
                    for i in range(k):
                        for j in range(k):
                            yy, xj = y + i - k // 2, xx + j - k // 2
                            if 0 <= yy < h and 0 <= xj < w:
                                acc = acc + kernels[b, g * k * k + i * k + j, y, xx] * \
                                    x[b, ch, yy, xj]
                    out[b, ch, y, xx] = acc
    return out


@pytest.mark.parametrize('groups,k', [(4, 3), (2, 3), (4, 5)])
def test_dynamic_dwconv_equals_a_naive_per_pixel_loop(groups, k):
    torch.manual_seed(1)
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    kernels = torch.randn(2, groups * k * k, 5, 6, dtype=torch.float64)
    out = pixel_dynamic_dwconv(x, kernels, k)
    assert torch.allclose(out, naive_dynamic_dwconv(x, kernels, k), atol=1e-12)


def test_dynamic_dwconv_identity_kernel_and_gradcheck():
    x = torch.randn(1, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    centre = torch.zeros(1, 27, 6, 7, dtype=torch.float64)
    centre[:, 4::9] = 1  # tap (1, 1) of every channel: the identity
    assert torch.equal(pixel_dynamic_dwconv(x, centre), x)
    kernels = torch.randn(1, 27, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pixel_dynamic_dwconv, (x, kernels), eps=1e-6, atol=1e-8)


def test_dynamic_dwconv_bad_input():
    with pytest.raises(ValueError, match='odd'):
        pixel_dynamic_dwconv(torch.zeros(1, 2, 4, 4), torch.zeros(1, 32, 4, 4), 4)
    with pytest.raises(ValueError, match='G dividing'):
        pixel_dynamic_dwconv(torch.zeros(1, 4, 4, 4), torch.zeros(1, 27, 4, 4))
    with pytest.raises(ValueError, match='G dividing'):
        pixel_dynamic_dwconv(torch.zeros(1, 4, 4, 4), torch.zeros(1, 36, 4, 5))
