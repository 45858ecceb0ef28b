import pytest
import torch
from mmcv.ops import modulated_deform_conv2d
from torchvision.ops import deform_conv2d

from vdeblur_mm.models.editors.bsstnet.bsstnet_dcn import deform_conv_by_sampling


@pytest.mark.parametrize('n, c, h, w, dg, c_out, stride, padding, dilation, scale', [
    (2, 8, 9, 7, 2, 5, 1, 1, 1, 8.),     # offsets reaching well outside the image
    (1, 6, 1, 5, 3, 4, 1, 1, 1, 3.),     # one-row input
    (2, 4, 11, 10, 1, 3, 2, 2, 2, 4.),   # stride, dilation, wide padding
    (1, 8, 6, 6, 4, 2, 1, 0, 1, 0.),     # no padding, zero offsets (a plain masked conv)
])
def test_equals_mmcv_and_torchvision(n, c, h, w, dg, c_out, stride, padding, dilation, scale):
    torch.manual_seed(0)
    h_out = (h + 2 * padding - 2 * dilation - 1) // stride + 1
    w_out = (w + 2 * padding - 2 * dilation - 1) // stride + 1
    x = torch.randn(n, c, h, w, dtype=torch.float64)
    offset = torch.randn(n, 2 * dg * 9, h_out, w_out, dtype=torch.float64) * scale
    mask = torch.rand(n, dg * 9, h_out, w_out, dtype=torch.float64)
    weight = torch.randn(c_out, c, 3, 3, dtype=torch.float64)
    bias = torch.randn(c_out, dtype=torch.float64)
    out = deform_conv_by_sampling(x, offset, mask, weight, bias, stride, padding, dilation, dg)
    ref_tv = deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask)
    torch.testing.assert_close(out, ref_tv, rtol=0, atol=1e-10)
    # mmcv's CPU kernel is float32 only
    ref_mmcv = modulated_deform_conv2d(x.float(), offset.float(), mask.float(), weight.float(),
                                       bias.float(), stride, padding, dilation, 1, dg)
    torch.testing.assert_close(out.float(), ref_mmcv, rtol=0, atol=2e-5)


def test_zero_offsets_unit_masks_is_a_convolution():
    torch.manual_seed(1)
    x, weight = torch.randn(2, 6, 8, 9), torch.randn(4, 6, 3, 3)
    out = deform_conv_by_sampling(x, torch.zeros(2, 36, 8, 9), torch.ones(2, 18, 8, 9), weight,
                                  None, padding=1, deform_groups=2)
    torch.testing.assert_close(out, torch.conv2d(x, weight, padding=1), rtol=1e-5, atol=1e-5)


def test_gradients_match_torchvision():
    torch.manual_seed(2)
    args = [torch.randn(1, 4, 6, 5, dtype=torch.float64), torch.randn(1, 36, 6, 5) * 2,
            torch.rand(1, 18, 6, 5), torch.randn(3, 4, 3, 3), torch.randn(3)]
    args = [a.double().requires_grad_() for a in args]
    ours = deform_conv_by_sampling(*args, padding=1, deform_groups=2)
    grads = torch.autograd.grad(ours.square().sum(), args)
    x, offset, mask, weight, bias = args
    ref = deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
    ref_grads = torch.autograd.grad(ref.square().sum(), args)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-8, atol=1e-8)


def test_bad_shapes_raise():
    x, weight = torch.randn(1, 6, 5, 5), torch.randn(2, 6, 3, 3)
    with pytest.raises(ValueError, match='deformable groups'):
        deform_conv_by_sampling(x, torch.zeros(1, 72, 5, 5), torch.ones(1, 36, 5, 5), weight,
                                padding=1, deform_groups=4)
    with pytest.raises(ValueError, match=r'offset \(1, 18, 5, 5\)'):
        deform_conv_by_sampling(x, torch.zeros(1, 18, 5, 5), torch.ones(1, 18, 5, 5), weight,
                                padding=1, deform_groups=2)
    with pytest.raises(ValueError, match='weight expects 4'):
        deform_conv_by_sampling(x, torch.zeros(1, 18, 5, 5), torch.ones(1, 9, 5, 5),
                                torch.randn(2, 4, 3, 3), padding=1)
    with pytest.raises(ValueError, match='3x3 outputs'):
        deform_conv_by_sampling(x, torch.zeros(1, 18, 5, 5), torch.ones(1, 9, 5, 5), weight)
