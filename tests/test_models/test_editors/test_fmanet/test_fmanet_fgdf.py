"""FGDF: the offset-loop filters against naive unfold references, gradients, special cases."""
import pytest
import torch
import torch.nn.functional as F

from vdeblur_mm.models.editors.fmanet.fmanet_fgdf import (
    dynamic_downsample,
    dynamic_upsample,
    fgdf_downsample,
    fgdf_upsample,
    warp_clip,
)


def naive_downsample(frames, kernels, occlusion, k, s):
    """The official formula (its channel-first layout): unfold k x k windows with stride s,
    softmax over t*k*k."""
    frames, kernels, occlusion = (x.transpose(1, 2) for x in (frames, kernels, occlusion))
    n, c, t, hh, ww = frames.shape
    h, w = hh // s, ww // s
    pad = (k - s) // 2
    weights = kernels.permute(0, 3, 4, 2, 1).reshape(n, h, w, t * k * k).softmax(-1)[:, None]

    def filt(x):
        x = F.pad(x, (pad, pad, pad, pad, 0, 0), mode='replicate')
        x = x.unfold(3, k, s).unfold(4, k, s)  # n c t h w k k
        x = x.permute(0, 1, 3, 4, 2, 5, 6).reshape(n, x.shape[1], h, w, t * k * k)
        return (x * weights).sum(-1)
    return filt(frames) / (filt(occlusion.expand(-1, c, -1, -1, -1)) + 1e-8)


def naive_upsample(frames, kernels, k, s):
    """The official formula (its channel-first layout): unfold k x k windows, k - mean + 1/K,
    one sum per sub-pixel."""
    frames, kernels = frames.transpose(1, 2), kernels.transpose(1, 2)
    n, c, t, h, w = frames.shape
    kern = kernels.view(n, s, s, k, k, t, h, w).permute(0, 6, 7, 1, 2, 5, 3, 4)
    kern = kern.reshape(n, 1, h, w, s, s, t * k * k)
    kern = kern - kern.mean(-1, keepdim=True) + 1.0 / kern.shape[-1]
    x = F.pad(frames.transpose(1, 2).reshape(n * t, c, h, w), [k // 2] * 4, mode='replicate')
    x = F.unfold(x, k).view(n, t, c, k * k, h, w).permute(0, 2, 4, 5, 1, 3)
    x = x.reshape(n, c, h, w, 1, 1, t * k * k)
    out = (x * kern).sum(-1)  # n c h w s s
    return out.permute(0, 1, 2, 4, 3, 5).reshape(n, c, h * s, w * s)


def _down_inputs(n=2, c=3, t=3, h=5, w=4, k=8, s=4, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(n, t, c, h * s, w * s, generator=g, dtype=dtype)
    kernels = torch.randn(n, t, k * k, h, w, generator=g, dtype=dtype)
    occlusion = torch.rand(n, t, 1, h * s, w * s, generator=g, dtype=dtype) + 0.1
    return frames, kernels, occlusion


@pytest.mark.parametrize('k,s', [(8, 4), (20, 4), (4, 2), (3, 1)])
def test_downsample_equals_naive_unfold(k, s):
    frames, kernels, occlusion = _down_inputs(k=k, s=s)
    ours = dynamic_downsample(frames, kernels, occlusion, k, s)
    ref = naive_downsample(frames, kernels, occlusion, k, s)
    assert ours.shape == (2, 3, 5, 4)
    assert (ours - ref).abs().max() <= 1e-10


@pytest.mark.parametrize('k,s', [(5, 4), (3, 2), (1, 4)])
def test_upsample_equals_naive_unfold(k, s):
    g = torch.Generator().manual_seed(1)
    frames = torch.rand(2, 3, 3, 5, 4, generator=g, dtype=torch.float64)
    kernels = torch.randn(2, 3, s * s * k * k, 5, 4, generator=g, dtype=torch.float64)
    ours = dynamic_upsample(frames, kernels, k, s)
    ref = naive_upsample(frames, kernels, k, s)
    assert ours.shape == (2, 3, 5 * s, 4 * s)
    assert (ours - ref).abs().max() <= 1e-10


@pytest.mark.parametrize('grad', [False, True])
def test_upsample_from_kernel_chunks_equals_whole_kernels(grad):
    """Kernels given per frame as chunks of whole sub-pixels (3 of 4 sub-pixels, then 1) give
    the filter of the whole kernels, with and without gradients; chunks that split a
    sub-pixel's taps are refused."""
    g = torch.Generator().manual_seed(3)
    frames = torch.rand(1, 3, 2, 4, 5, generator=g, dtype=torch.float64)
    kernels = torch.randn(1, 3, 4 * 9, 4, 5, generator=g, dtype=torch.float64)
    with torch.set_grad_enabled(grad):
        ref = dynamic_upsample(frames, kernels, 3, 2)

        def chunks(i):
            return [(0, kernels[:, i, :27]), (27, kernels[:, i, 27:])]
        assert (dynamic_upsample(frames, chunks, 3, 2) - ref).abs().max() < 1e-12
        with pytest.raises(ValueError, match='whole sub-pixels'):
            dynamic_upsample(frames, lambda i: [(0, kernels[:, i, :10])], 3, 2)


def test_gradcheck_filters():
    frames, kernels, occlusion = _down_inputs(n=1, c=2, t=2, h=2, w=3, k=8, s=4)
    for x in (frames, kernels, occlusion):
        x.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, b, o: dynamic_downsample(a, b, o, 8, 4), (frames, kernels, occlusion))
    g = torch.Generator().manual_seed(2)
    lr = torch.rand(1, 2, 2, 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    kr = torch.randn(1, 2, 4 * 9, 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: dynamic_upsample(a, b, 3, 2), (lr, kr))


def test_gradcheck_whole_fgdf_reaches_flows_and_kernels():
    g = torch.Generator().manual_seed(3)
    hr = torch.rand(1, 3, 2, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    # flows within one pixel cell, away from integer positions (the bilinear kinks)
    fm = torch.cat([torch.rand(1, 3, 2, 2, 2, generator=g, dtype=torch.float64) * 0.4 + 0.3,
                    torch.randn(1, 3, 1, 2, 2, generator=g, dtype=torch.float64)], 2)
    fm.requires_grad_(True)
    kd = torch.randn(1, 3, 16, 2, 2, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: fgdf_downsample(a, b, c, 4, 2)[0],
                                    (hr, fm, kd))
    lr = torch.rand(1, 3, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    fm1 = torch.cat([torch.rand(1, 3, 2, 3, 3, generator=g, dtype=torch.float64) * 0.4 + 0.3,
                     torch.randn(1, 3, 1, 3, 3, generator=g, dtype=torch.float64)], 2)
    fm1.requires_grad_(True)
    kr = torch.randn(1, 3, 4 * 9, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: fgdf_upsample(a, b, c, 3, 2)[0],
                                    (lr, fm1, kr))
    out, _ = fgdf_downsample(hr, fm, kd, 4, 2)
    out.sum().backward()
    assert fm.grad.abs().sum() > 0 and kd.grad.abs().sum() > 0


def test_zero_flow_one_hot_kernel_is_plain_sampling():
    """Zero flow, a large mask logit and a one-hot kernel: the output samples one frame."""
    n, c, t, h, w, k, s = 1, 3, 3, 4, 5, 20, 4
    g = torch.Generator().manual_seed(4)
    hr = torch.rand(n, t, c, h * s, w * s, generator=g, dtype=torch.float64)
    fm = torch.zeros(n, t, 3, h, w, dtype=torch.float64)
    fm[:, :, 2] = 50.0  # sigmoid = 1
    kd = torch.full((n, t, k * k, h, w), -1e4, dtype=torch.float64)
    k1, k2, frame = 9, 10, 2  # the tap of padded row s*y + 9, column s*x + 10
    kd[:, frame, k1 * k + k2] = 1e4
    out, warped = fgdf_downsample(hr, fm, kd, k, s)
    assert torch.allclose(warped, hr, atol=1e-12)
    pad = (k - s) // 2
    expected = hr[:, frame, :, k1 - pad::s, k2 - pad::s]
    # the normaliser is 1 + 1e-8 (the official guard), hence the tolerance
    assert (out - expected).abs().max() < 2e-8
    # the upsampling: centre tap of frame 0 only -> nearest-neighbour x4 upsampling of frame 0
    lr = torch.rand(n, t, c, h, w, generator=g, dtype=torch.float64)
    kr = torch.zeros(n, t, s * s * 25, h, w, dtype=torch.float64)
    # k - mean + 1/K: a one-hot tap of weight 1 stays one-hot after the normalisation
    kr.view(n, t, s * s, 5, 5, h, w)[:, 0, :, 2, 2] = 1.0
    up, _ = fgdf_upsample(lr, fm, kr, 5, s)
    assert (up - lr[:, 0].repeat_interleave(s, -2).repeat_interleave(s, -1)).abs().max() \
        < 1e-9


def test_warp_clip_integer_flow_and_scaling():
    x = torch.arange(2 * 1 * 3 * 8 * 8, dtype=torch.float64).view(2, 3, 1, 8, 8)
    fm = torch.zeros(2, 3, 3, 2, 2, dtype=torch.float64)
    fm[:, :, 0] = 0.5  # 0.5 LR px = 2 HR px to the right
    fm[:, :, 2] = 50.0
    occ, warped = warp_clip(x, fm, scale=4)
    assert torch.allclose(warped[..., :6], x[..., 2:])
    assert torch.allclose(occ[..., 6:], torch.zeros_like(occ[..., 6:]))
    assert torch.allclose(occ[..., :6], torch.ones_like(occ[..., :6]))


def test_bad_shapes_raise():
    frames, kernels, occlusion = _down_inputs(k=8, s=4)
    with pytest.raises(ValueError, match='degradation kernels'):
        dynamic_downsample(frames, kernels[:, :, :-1], occlusion, 8, 4)
    with pytest.raises(ValueError, match='multiple of the scale'):
        dynamic_downsample(frames, kernels, occlusion, 6, 4)
    with pytest.raises(ValueError, match='restoration kernels'):
        dynamic_upsample(frames[..., :5, :4], kernels[:, :, :5], 5, 4)
    with pytest.raises(ValueError, match='flow_mask'):
        warp_clip(frames, kernels[:, :, :3, :, :3], 4)
