"""The fused forwards of BSSTNet's CNN blocks (folded norms and channel attention, one
depthwise conv per RepConv, 1x1 convs as matrix products, 1x1 conv before the upsampling)
against the blocks' plain definitions, composed here from their submodules as the official
code runs them. In float64, so that any difference beyond rounding shows."""
import pytest
import torch
import torch.nn.functional as F

from vdeblur_mm.models.editors.bsstnet.bsstnet_cnn_blocks import (
    CAB,
    CAB1,
    CAB2,
    LayerNorm2d,
    SkipUpSample,
)
from vdeblur_mm.models.editors.bsstnet.bsstnet_shift_blocks import EncoderShiftBlock


def randomize(module, std=0.3, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * std)
    return module.double().eval()


def ref_norm(norm, x):
    mu = x.mean(1, keepdim=True)
    var = (x - mu).pow(2).mean(1, keepdim=True)
    y = (x - mu) / (var + norm.eps).sqrt()
    return norm.weight.view(1, -1, 1, 1) * y + norm.bias.view(1, -1, 1, 1)


def ref_ca(ca, x):
    return x * ca.conv_du(ca.avg_pool(x))


def ref_body(body, x):
    x = body[0](x)
    x = body[1].conv_2(x) + x
    a, b = x.chunk(2, dim=1)
    x = a * b
    x = body[3].conv_1(x) + body[3].conv_2(x) + x
    a, b = body[4](x).chunk(2, dim=1)
    return body[7](ref_ca(body[6], a * torch.sigmoid(b)))


def ref_cab1(m, x):
    return x + ref_body(m.body, ref_norm(m.norm, x)) * m.beta


def ref_cab2(m, x):
    shortcut, extra = x[:, :m.n_feat], x[:, m.n_feat:]
    return shortcut + ref_body(m.body, ref_norm(m.norm, torch.cat(
        (shortcut, m.conv1(extra)), 1))) * m.beta


def ref_shift_block(m, x):
    for i, name in enumerate(('encoder_level1', 'encoder_level1_1', 'encoder_level1_2',
                              'encoder_level1_3')):
        cab2, cab1 = getattr(m, name)
        x = ref_cab1(cab1, ref_cab2(cab2, m.channel_shift(x, reverse=i % 2 == 1)))
    return x


@pytest.mark.parametrize('bias', [False, True])
@pytest.mark.parametrize('build,ref,shape', [
    (lambda b: CAB1(16, 3, bias=b), ref_cab1, (2, 16, 9, 11)),
    (lambda b: CAB1(8, 5, bias=b), ref_cab1, (3, 8, 7, 6)),
    (lambda b: CAB2(8, 5, bias=b, add_channel=6), ref_cab2, (2, 14, 10, 9)),
    (lambda b: CAB(8, 3, bias=b), lambda m, x: ref_ca(m.CA, m.body(x)) + x, (2, 8, 7, 9)),
    (lambda b: EncoderShiftBlock(32, bias=b), ref_shift_block, (4, 32, 20, 18)),
])
def test_fused_blocks_equal_their_plain_definition(build, ref, shape, bias):
    block = randomize(build(bias))
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        expected = ref(block, x)
        assert torch.allclose(block(x), expected, rtol=1e-10, atol=1e-10)
        # channels-last input (the encoder and decoder run so): same values, same layout
        out = block(x.contiguous(memory_format=torch.channels_last))
        assert torch.allclose(out, expected, rtol=1e-10, atol=1e-10)
        assert out.is_contiguous(memory_format=torch.channels_last)


def test_fused_blocks_train_like_the_plain_ones():
    block = randomize(CAB2(8, 5, bias=True, add_channel=6))
    x = torch.randn(2, 14, 10, 9, dtype=torch.float64)
    grads = []
    for fn in (block, lambda x: ref_cab2(block, x)):
        block.zero_grad()
        fn(x).square().sum().backward()
        grads.append({k: p.grad.clone() for k, p in block.named_parameters()})
    for k in grads[0]:
        assert torch.allclose(grads[0][k], grads[1][k], rtol=1e-9, atol=1e-10), k


def test_layernorm2d_and_repconvs_equal_their_definitions():
    norm = randomize(LayerNorm2d(6))
    block = randomize(CAB1(6, 5, bias=True))
    x = torch.randn(2, 6, 8, 7, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(norm(x), ref_norm(norm, x), rtol=1e-12, atol=1e-12)
        rep, rep2 = block.body[3], block.body[1]
        assert torch.allclose(rep(x), rep.conv_1(x) + rep.conv_2(x) + x, atol=1e-12)
        y = torch.randn(2, 12, 8, 7, dtype=torch.float64)
        assert torch.allclose(rep2(y), rep2.conv_2(y) + y, atol=1e-12)
        ca = block.body[6]
        assert torch.allclose(ca(x), ref_ca(ca, x), atol=1e-12)


def test_skip_upsample_convolves_before_upsampling_with_the_same_result():
    up = randomize(SkipUpSample(4, 6))
    with torch.no_grad():
        up.up[1].bias = torch.nn.Parameter(torch.randn(4, dtype=torch.float64))
        x = torch.randn(2, 10, 5, 7, dtype=torch.float64)
        y = torch.randn(2, 4, 10, 14, dtype=torch.float64)
        expected = up.up[1](F.interpolate(x, scale_factor=2, mode='bilinear',
                                          align_corners=False)) + y
        assert torch.allclose(up(x, y), expected, rtol=1e-12, atol=1e-12)
        cl = torch.channels_last
        out = up(x.contiguous(memory_format=cl), y.contiguous(memory_format=cl))
        assert torch.allclose(out, expected, rtol=1e-12, atol=1e-12)
        assert out.is_contiguous(memory_format=cl)
