"""EDVRDeblurNet and its blocks: shapes, gradients, input checks, fidelity to BasicSR/mmagic."""
import pytest
import torch
from mmagic.models.editors.edvr import EDVRNet

from vdeblur_mm.models.editors.edvr import EDVRDeblurNet, PCDAlignment, PredeblurModule, TSAFusion
from vdeblur_mm.models.editors.edvr.convert import basicsr_key_to_ours

from .basicsr_reference import basicsr_edvr_forward, random_basicsr_state

TINY = dict(mid_channels=16, num_frames=3, deform_groups=2, num_extract_block=1,
            num_reconstruct_block=1)


def tiny_net(**kwargs):
    torch.manual_seed(0)
    return EDVRDeblurNet(**dict(TINY, **kwargs))


def assert_all_grads(module):
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_pcd_alignment_shapes_and_gradients():
    pcd = PCDAlignment(mid_channels=16, deform_groups=2)
    feats = [torch.randn(2, 16, 16 // s, 20 // s, requires_grad=True) for s in (1, 2, 4)]
    refs = [torch.randn(2, 16, 16 // s, 20 // s) for s in (1, 2, 4)]
    out = pcd(feats, refs)
    assert out.shape == (2, 16, 16, 20)
    out.square().mean().backward()
    assert_all_grads(pcd)
    assert all(f.grad.abs().sum() > 0 for f in feats)


def test_tsa_fusion_shapes_and_gradients():
    tsa = TSAFusion(mid_channels=8, num_frames=3, center_frame_idx=1)
    x = torch.randn(2, 3, 8, 12, 16, requires_grad=True)
    out = tsa(x)
    assert out.shape == (2, 8, 12, 16)
    out.mean().backward()
    assert_all_grads(tsa)
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize('hr_in,size', [(True, 8), (False, 32)])
def test_predeblur_module_shapes_and_gradients(hr_in, size):
    module = PredeblurModule(3, 8, hr_in=hr_in)
    out = module(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 8, size, size)
    out.mean().backward()
    assert_all_grads(module)
    assert hasattr(module, 'hr_down1') == hr_in


@pytest.mark.parametrize('kwargs,scale', [
    (dict(), 1),
    (dict(with_tsa=False), 1),
    (dict(hr_in=False), 4),
    (dict(hr_in=False, with_predeblur=False), 4),
])
def test_net_shapes_gradients_and_inference_spec(kwargs, scale):
    net = tiny_net(**kwargs)
    size = 32 if scale == 1 else 8
    x = torch.rand(2, 3, 3, size, size + 16 // scale)
    out = net(x)
    assert out.shape == (2, 3, size * scale, (size + 16 // scale) * scale)
    out.mean().backward()
    assert_all_grads(net)
    multiple = 16 if scale == 1 else 4
    assert net.inference_spec == dict(mode='window', window_frames=3, size_multiple=multiple,
                                      min_size=multiple, scale=scale)


def test_smallest_input_runs():
    assert tiny_net()(torch.rand(1, 3, 3, 16, 16)).shape == (1, 3, 16, 16)


def test_output_does_not_depend_on_batch_composition():
    net = tiny_net().eval()
    x = torch.rand(2, 3, 3, 32, 48)
    with torch.no_grad():
        both = net(x)
        for i in range(2):
            torch.testing.assert_close(net(x[i:i + 1])[0], both[i], atol=1e-5, rtol=0)


def test_constructor_rejects_bad_arguments():
    with pytest.raises(ValueError, match='num_frames must be a positive odd number'):
        EDVRDeblurNet(**dict(TINY, num_frames=4))
    with pytest.raises(ValueError, match='center_frame_idx 3 is outside'):
        EDVRDeblurNet(**dict(TINY, center_frame_idx=3))
    with pytest.raises(ValueError, match='divisible by deform_groups'):
        EDVRDeblurNet(**dict(TINY, deform_groups=3))
    with pytest.raises(ValueError, match='hr_in=True needs with_predeblur=True'):
        EDVRDeblurNet(**dict(TINY, with_predeblur=False))


@pytest.mark.parametrize('shape,match', [
    ((1, 3, 32, 32), r'expects frames of shape \(n, t, c, h, w\), got \(1, 3, 32, 32\)'),
    ((1, 5, 3, 32, 32), 'built for num_frames=3 and got 5 frames'),
    ((1, 3, 1, 32, 32), 'expects 3 channels, got 1'),
    ((1, 3, 3, 40, 32), 'multiples of 16 with hr_in=True, got 40x32'),
    ((1, 3, 3, 32, 20), 'multiples of 16 with hr_in=True, got 32x20'),
])
def test_forward_rejects_bad_input(shape, match):
    with pytest.raises(ValueError, match=match):
        tiny_net()(torch.rand(shape))


def test_forward_rejects_bad_size_without_hr_in():
    with pytest.raises(ValueError, match='multiples of 4, got 10x8'):
        tiny_net(hr_in=False)(torch.rand(1, 3, 3, 10, 8))


@pytest.mark.parametrize('kwargs', [
    dict(hr_in=True, with_predeblur=True, with_tsa=True),
    dict(hr_in=True, with_predeblur=True, with_tsa=False),
    dict(hr_in=False, with_predeblur=True, with_tsa=True),
    dict(hr_in=False, with_predeblur=False, with_tsa=True),
])
def test_matches_functional_basicsr_forward(kwargs):
    """BasicSR-named random weights, loaded through the key map, give BasicSR's output (the
    reference uses torchvision's deform_conv2d; random conv_offset weights give non-trivial,
    fractional offsets)."""
    state = random_basicsr_state(
        seed=1, num_feat=16, num_frame=3, deformable_groups=2, num_extract_block=2,
        num_reconstruct_block=2, **kwargs)
    net = EDVRDeblurNet(**dict(TINY, num_extract_block=2, num_reconstruct_block=2,
                               **kwargs)).eval()
    net.load_state_dict({basicsr_key_to_ours(k): v for k, v in state.items()}, strict=True)
    size = 32 if kwargs['hr_in'] else 8
    x = torch.rand(2, 3, 3, size, size + 16)
    with torch.no_grad():
        ours = net(x)
    ref = basicsr_edvr_forward(state, x, **kwargs)
    assert ref.shape == ours.shape
    # the offsets really are non-zero and fractional
    with torch.no_grad():
        offset = net.pcd_alignment.cas_dcnpack.conv_offset(torch.rand(1, 16, 8, 8))
    assert offset.abs().mean() > 0.01
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('with_tsa', [True, False])
def test_sr_path_is_mmagic_edvrnet(with_tsa):
    """Without pre-deblur and hr_in the net is mmagic's EDVRNet: same keys and shapes, and
    mmagic's weights give mmagic's output."""
    torch.manual_seed(0)
    theirs = EDVRNet(3, 3, mid_channels=16, num_frames=3, deform_groups=2,
                     num_blocks_extraction=1, num_blocks_reconstruction=1, center_frame_idx=1,
                     with_tsa=with_tsa).eval()
    with torch.no_grad():  # non-zero offsets so that the DCNs are exercised
        for name, p in theirs.named_parameters():
            if 'conv_offset' in name:
                p.normal_(std=0.05)
    ours = tiny_net(hr_in=False, with_predeblur=False, with_tsa=with_tsa).eval()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.rand(1, 3, 3, 12, 16)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)
