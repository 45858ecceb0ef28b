"""ModulatedDCNPack: offset/mask layout and equivalences with plain convolutions (mmcv on CPU)."""
import torch
import torch.nn.functional as F

from vdeblur_mm.models.layers import ModulatedDCNPack
from vdeblur_mm.models.layers import dcn as dcn_module


def make_pack(c=4, out=6, dg=1, seed=0):
    torch.manual_seed(seed)
    pack = ModulatedDCNPack(c, out, 3, padding=1, deform_groups=dg)
    with torch.no_grad():
        pack.bias.normal_()
    return pack


def set_offset_bias(pack, offset=None, mask_logit=None):
    """Constant offsets/masks through conv_offset's bias (its weight is zero)."""
    n = pack.deform_groups * 9
    with torch.no_grad():
        if offset is not None:
            pack.conv_offset.bias[:2 * n] = offset
        if mask_logit is not None:
            pack.conv_offset.bias[2 * n:] = mask_logit


def test_conv_offset_is_zero_initialised_and_stays_zero():
    pack = make_pack(dg=2)
    assert pack.conv_offset.out_channels == 2 * 3 * 9
    assert not pack.conv_offset.weight.any() and not pack.conv_offset.bias.any()
    pack.init_weights()
    assert not pack.conv_offset.weight.any() and not pack.conv_offset.bias.any()
    assert sorted(k for k, _ in pack.named_parameters()) == [
        'bias', 'conv_offset.bias', 'conv_offset.weight', 'weight']


def test_zero_offsets_equal_plain_conv_with_half_mask():
    pack = make_pack(dg=2)
    x, feat = torch.randn(2, 4, 9, 11), torch.randn(2, 4, 9, 11)
    out = pack(x, feat)
    # sigmoid(0) = 0.5 modulates every sample; the bias is added after modulation
    ref = F.conv2d(x, pack.weight * 0.5, pack.bias, padding=1)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out, F.conv2d(x, pack.weight, pack.bias, padding=1), atol=1e-3)


def test_saturated_mask_equals_plain_conv():
    pack = make_pack()
    set_offset_bias(pack, mask_logit=40.)  # sigmoid(40) == 1 in float32
    x = torch.randn(1, 4, 8, 8)
    torch.testing.assert_close(pack(x, x), F.conv2d(x, pack.weight, pack.bias, padding=1),
                               atol=1e-5, rtol=1e-5)


def test_integer_offsets_sample_shifted_input_per_group():
    """Offsets are (dy, dx) pairs per kernel point, deform groups take contiguous channel
    slices; o1 and o2 together are the offsets, the third chunk the mask."""
    pack = make_pack(c=4, out=5, dg=2)
    offset = torch.zeros(2 * 2 * 9)
    offset[18 + 1::2] = 1.  # group 1 (channels 2, 3): dx = +1 at every kernel point
    offset[0:18:2] = -2.  # group 0 (channels 0, 1): dy = -2 at every kernel point
    set_offset_bias(pack, offset=offset, mask_logit=40.)
    x = torch.randn(1, 4, 10, 12)
    # a tap of output (i, j), kernel point (ky, kx) reads x[i + ky - 1 + dy, j + kx - 1 + dx]
    # (zero outside the image): a padding-free conv over a shifted, zero-padded copy
    padded = F.pad(x, (3, 3, 3, 3))
    h, w = x.shape[-2:]

    def window(channels, dy, dx):
        return padded[:, channels, 2 + dy:2 + dy + h + 2, 2 + dx:2 + dx + w + 2]

    shifted = torch.cat([window(slice(0, 2), -2, 0), window(slice(2, 4), 0, 1)], dim=1)
    ref = F.conv2d(shifted, pack.weight, pack.bias)
    torch.testing.assert_close(pack(x, torch.randn_like(x)), ref, atol=1e-5, rtol=1e-5)


def test_gradients_reach_offsets_and_weights():
    pack = make_pack(dg=2)
    x = torch.randn(1, 4, 8, 8, requires_grad=True)
    feat = torch.randn(1, 4, 8, 8, requires_grad=True)
    pack(x, feat).square().mean().backward()
    for name, p in pack.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    # the zero-initialised conv_offset passes no gradient on to the offset feature yet
    assert x.grad.abs().sum() > 0 and not feat.grad.any()
    with torch.no_grad():
        pack.conv_offset.weight.normal_(std=0.01)
    feat.grad = None
    pack(x, feat).square().mean().backward()
    assert feat.grad.abs().sum() > 0


def test_large_offsets_warn(monkeypatch):
    calls = []
    monkeypatch.setattr(dcn_module, 'print_log', lambda msg, **kw: calls.append(msg))
    pack = make_pack()
    x = torch.randn(1, 4, 6, 6)
    pack(x, x)
    assert not calls
    set_offset_bias(pack, offset=60.)
    pack(x, x)
    assert len(calls) == 1 and 'larger than 50' in calls[0]
    pack.offset_warn_threshold = None
    pack(x, x)
    assert len(calls) == 1


def test_channels_last_inputs_give_the_same_result():
    """mmcv's CPU kernel reads memory as contiguous NCHW; frames permuted from HWC images are
    channels-last (VideoRestorer makes such tensors)."""
    pack = make_pack(c=8, out=8, dg=2)
    with torch.no_grad():
        pack.conv_offset.weight.normal_(std=0.1)
    x, feat = torch.randn(2, 8, 10, 12), torch.randn(2, 8, 10, 12)
    ref = pack(x, feat)
    cl = dict(memory_format=torch.channels_last)
    torch.testing.assert_close(pack(x.contiguous(**cl), feat), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pack(x, feat.contiguous(**cl)), ref, atol=1e-5, rtol=1e-5)
