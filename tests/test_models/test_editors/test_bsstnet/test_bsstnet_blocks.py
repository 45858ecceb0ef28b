"""BSSTNet blocks: shapes, gradients, input checks, official state-dict keys, window attention
and shifts against independent references."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmagic.models.archs import PixelShufflePack
from torch import nn

from vdeblur_mm.models.editors.bsstnet.bsstnet_cnn_blocks import (
    CAB,
    CAB1,
    CAB2,
    LayerNorm2d,
    SkipUpSample,
)
from vdeblur_mm.models.editors.bsstnet.bsstnet_shift_blocks import (
    EncoderShiftBlock,
    spatial_shift,
    temporal_channel_shift,
)
from vdeblur_mm.models.editors.bsstnet.bsstnet_swin3d import (
    STG,
    STL,
    RSTBWithInputConv,
    WindowAttention,
    compute_mask,
    get_window_size,
    window_partition,
    window_reverse,
)

ACT = nn.LeakyReLU(negative_slope=0.1, inplace=True)
# RSTBWithInputConv exactly as BSST.__init__ builds its ``reconstruction``
BSST_RECON = dict(in_channels=5 * 192, kernel_size=(1, 3, 3), groups=3, num_blocks=2, dim=192,
                  depth=2, num_heads=6, window_size=[2, 8, 8], mlp_ratio=2, qkv_bias=True,
                  qk_scale=None, norm_layer=nn.LayerNorm, use_checkpoint_attn=[False],
                  use_checkpoint_ffn=[False])
TINY_RECON = dict(BSST_RECON, in_channels=5 * 6, dim=6, num_heads=2, window_size=[2, 4, 4],
                  use_checkpoint_attn=[False], use_checkpoint_ffn=[False])


# ------------------------------------------------------------------------------------------
# Official key -> shape tables, read off gshift_arch.py / BSST_arch.py (huicongzhang/BSSTNet)
# ------------------------------------------------------------------------------------------
CAB_64_K3 = {  # CAB(64, 3, 4, bias=False, act=LeakyReLU): CA registered before body
    'CA.conv_du.0.weight': (64, 64, 1, 1),
    'CA.conv_du.2.weight': (64, 64, 1, 1),
    'body.0.weight': (64, 64, 3, 3),
    'body.2.weight': (64, 64, 3, 3),
}
CAB1_192_K3 = {  # CAB1(192, 3, 4, False, act)
    'norm.weight': (192, ),
    'norm.bias': (192, ),
    'body.0.weight': (384, 192, 1, 1),
    'body.1.conv_2.weight': (384, 1, 3, 3),
    'body.3.conv_1.weight': (192, 1, 3, 3),
    'body.3.conv_2.weight': (192, 1, 3, 3),
    'body.4.weight': (384, 192, 1, 1),
    'body.6.conv_du.0.weight': (192, 192, 1, 1),
    'body.6.conv_du.2.weight': (192, 192, 1, 1),
    'body.7.weight': (192, 192, 1, 1),
    'beta': (1, 192, 1, 1),
}
CAB2_192_K5_ADD192 = {  # CAB2(192, 5, 4, bias=False, act=act, add_channel=192)
    'conv1.weight': (192, 1, 3, 3),
    'norm.weight': (384, ),
    'norm.bias': (384, ),
    'body.0.weight': (384, 384, 1, 1),
    'body.1.conv_2.weight': (384, 1, 3, 3),
    'body.3.conv_1.weight': (192, 1, 5, 5),
    'body.3.conv_2.weight': (192, 1, 3, 3),
    'body.4.weight': (384, 192, 1, 1),
    'body.6.conv_du.0.weight': (192, 192, 1, 1),
    'body.6.conv_du.2.weight': (192, 192, 1, 1),
    'body.7.weight': (192, 192, 1, 1),
    'beta': (1, 192, 1, 1),
}
SKIP_UP_64_128 = {'up.1.weight': (64, 192, 1, 1)}  # SkipUpSample(64, 128)
PIXEL_SHUFFLE_64 = {  # PixelShufflePack(64, 64, 2, upsample_kernel=3)
    'upsample_conv.weight': (256, 64, 3, 3),
    'upsample_conv.bias': (256, ),
}
ENCODER_SHIFT_64_PARAMS = 275328  # Encoder_shift_block(64, 3, 4, False), from the table below
RECON_PARAMS = 1832328  # BSST's RSTBWithInputConv, from the table below (buffers excluded)


def official_gated_keys(n, k, add=0):
    """CAB2(n, k, add_channel=add) keys (CAB1 when add == 0)."""
    keys = {'conv1.weight': (add, 1, 3, 3)} if add else {}
    keys.update({
        'norm.weight': (n + add, ),
        'norm.bias': (n + add, ),
        'body.0.weight': (2 * n, n + add, 1, 1),
        'body.1.conv_2.weight': (2 * n, 1, 3, 3),
        'body.3.conv_1.weight': (n, 1, k, k),
        'body.3.conv_2.weight': (n, 1, 3, 3),
        'body.4.weight': (2 * n, n, 1, 1),
        'body.6.conv_du.0.weight': (n, n, 1, 1),
        'body.6.conv_du.2.weight': (n, n, 1, 1),
        'body.7.weight': (n, n, 1, 1),
        'beta': (1, n, 1, 1),
    })
    return keys


def official_encoder_shift_keys(n):
    """Encoder_shift_block(n, ...): four Sequential(CAB2(n, 5, add=n//2), CAB1(n, 5))."""
    add = 8 * (n // 2 // 8)
    keys = {}
    for level in ('encoder_level1', 'encoder_level1_1', 'encoder_level1_2', 'encoder_level1_3'):
        keys.update({f'{level}.0.{k}': v for k, v in official_gated_keys(n, 5, add).items()})
        keys.update({f'{level}.1.{k}': v for k, v in official_gated_keys(n, 5).items()})
    return keys


def official_recon_keys(in_channels=5 * 192, dim=192, groups=3, heads=6, window=(2, 8, 8),
                        mlp_ratio=2, num_blocks=2, depth=2):
    """RSTBWithInputConv keys: main.1 Conv3d, main.3 LayerNorm, main.5.<i> RSTB, main.7 LN
    (main.0/2/4/6/8 are einops Rearrange layers without state)."""
    wd, wh, ww = window
    n, hidden = wd * wh * ww, int(dim * mlp_ratio)
    keys = {
        'main.1.weight': (dim, in_channels // groups, 1, 3, 3),
        'main.1.bias': (dim, ),
        'main.3.weight': (dim, ),
        'main.3.bias': (dim, ),
    }
    for i in range(num_blocks):
        for j in range(depth):
            p = f'main.5.{i}.residual_group.blocks.{j}.'
            keys.update({
                p + 'norm1.weight': (dim, ),
                p + 'norm1.bias': (dim, ),
                p + 'attn.relative_position_bias_table':
                ((2 * wd - 1) * (2 * wh - 1) * (2 * ww - 1), heads),
                p + 'attn.relative_position_index': (n, n),  # persistent buffer
                p + 'attn.qkv_self.weight': (3 * dim, dim),
                p + 'attn.qkv_self.bias': (3 * dim, ),
                p + 'attn.proj.weight': (dim, dim),
                p + 'attn.proj.bias': (dim, ),
                p + 'norm2.weight': (dim, ),
                p + 'norm2.bias': (dim, ),
                p + 'mlp.fc1.weight': (hidden, dim),
                p + 'mlp.fc1.bias': (hidden, ),
                p + 'mlp.fc2.weight': (dim, hidden),
                p + 'mlp.fc2.bias': (dim, ),
            })
        keys[f'main.5.{i}.linear.weight'] = (dim, dim)
        keys[f'main.5.{i}.linear.bias'] = (dim, )
    keys['main.7.weight'] = (dim, )
    keys['main.7.bias'] = (dim, )
    return keys


def shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def count(table, skip=('relative_position_index', )):
    return sum(math.prod(s) for k, s in table.items() if not k.endswith(skip))


def randomize(module, std=0.2):
    """Random weights everywhere (the official inits put zeros in ``beta`` and the bias
    table, which would hide missing gradients)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * std)
    return module


def assert_all_grads(module):
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


# ------------------------------------------------------------------------------------------
# State dicts
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize('module,expected', [
    (lambda: CAB(64, 3, bias=False, act=ACT), CAB_64_K3),
    (lambda: CAB1(192, 3, bias=False), CAB1_192_K3),
    (lambda: CAB2(192, 5, bias=False, add_channel=192), CAB2_192_K5_ADD192),
    (lambda: SkipUpSample(64, 128), SKIP_UP_64_128),
    (lambda: PixelShufflePack(64, 64, 2, upsample_kernel=3), PIXEL_SHUFFLE_64),
    (lambda: EncoderShiftBlock(64, bias=False), official_encoder_shift_keys(64)),
    (lambda: EncoderShiftBlock(192, bias=False), official_encoder_shift_keys(192)),
])
def test_cnn_block_state_dict_matches_official(module, expected):
    assert shapes(module()) == expected


def test_generated_gated_tables_agree_with_literal_ones():
    assert official_gated_keys(192, 3) == CAB1_192_K3
    assert official_gated_keys(192, 5, 192) == CAB2_192_K5_ADD192


def test_encoder_shift_block_parameter_count():
    block = EncoderShiftBlock(64, bias=False)
    assert count(official_encoder_shift_keys(64)) == ENCODER_SHIFT_64_PARAMS
    assert sum(p.numel() for p in block.parameters()) == ENCODER_SHIFT_64_PARAMS


def test_reconstruction_state_dict_and_parameter_count():
    recon = RSTBWithInputConv(**BSST_RECON)
    expected = official_recon_keys()
    assert shapes(recon) == expected
    assert len(expected) == 66
    assert count(expected) == RECON_PARAMS
    assert sum(p.numel() for p in recon.parameters()) == RECON_PARAMS
    # the index buffer is persistent (as official): official checkpoints load strictly
    buffers = [k for k, _ in recon.named_buffers()]
    assert len(buffers) == 4 and all(k in recon.state_dict() for k in buffers)
    recon.load_state_dict({k: v.clone() for k, v in recon.state_dict().items()}, strict=True)


# ------------------------------------------------------------------------------------------
# Shapes and gradients
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize('build,in_shape,out_shape', [
    (lambda: CAB(8, 3, bias=False, act=ACT), (2, 8, 6, 7), (2, 8, 6, 7)),
    (lambda: CAB(8, 3, bias=True, act=nn.PReLU()), (2, 8, 6, 7), (2, 8, 6, 7)),
    (lambda: CAB1(8, 3, bias=False), (2, 8, 6, 7), (2, 8, 6, 7)),
    (lambda: CAB2(8, 5, bias=False, add_channel=6), (2, 14, 6, 7), (2, 8, 6, 7)),
    (lambda: PixelShufflePack(8, 4, 2, upsample_kernel=3), (2, 8, 5, 6), (2, 4, 10, 12)),
    (lambda: EncoderShiftBlock(16, bias=False), (3, 16, 12, 14), (3, 16, 12, 14)),
    (lambda: RSTBWithInputConv(**TINY_RECON), (1, 3, 30, 6, 9), (1, 3, 6, 6, 9)),
])
def test_shapes_and_gradients(build, in_shape, out_shape):
    module = randomize(build())
    x = torch.randn(*in_shape, requires_grad=True)
    out = module(x)
    assert out.shape == out_shape
    out.square().mean().backward()
    assert_all_grads(module)
    assert x.grad.abs().sum() > 0


def test_skip_upsample_shapes_and_gradients():
    module = randomize(SkipUpSample(4, 6))
    x, y = torch.randn(2, 10, 5, 6), torch.randn(2, 4, 10, 12, requires_grad=True)
    out = module(x, y)
    assert out.shape == (2, 4, 10, 12)
    out.square().mean().backward()
    assert_all_grads(module)
    torch.testing.assert_close(y.grad, 2 * out.detach() / out.numel())


@pytest.mark.parametrize('shape', [(1, 3, 30, 20, 28), (2, 1, 30, 5, 7), (1, 4, 30, 9, 4)])
def test_reconstruction_odd_sizes(shape):
    recon = randomize(RSTBWithInputConv(**dict(TINY_RECON, window_size=[2, 8, 8])))
    assert recon(torch.randn(*shape)).shape == shape[:2] + (6, ) + shape[3:]


def test_bsst_reconstruction_runs_at_full_width_on_odd_size():
    recon = RSTBWithInputConv(**BSST_RECON)
    with torch.no_grad():
        out = recon(torch.randn(1, 3, 5 * 192, 20, 28))
    assert out.shape == (1, 3, 192, 20, 28) and torch.isfinite(out).all()


@pytest.mark.parametrize('shape', [(3, 64, 20, 28), (1, 64, 5, 7)])
def test_encoder_shift_block_odd_sizes(shape):
    block = randomize(EncoderShiftBlock(64, bias=False), std=0.05)
    assert block(torch.randn(*shape)).shape == shape


def test_activation_checkpointing_gives_same_output_and_gradients():
    plain = randomize(RSTBWithInputConv(**TINY_RECON))
    ckpt = RSTBWithInputConv(**dict(TINY_RECON, use_checkpoint_attn=True,
                                    use_checkpoint_ffn=[True]))
    ckpt.load_state_dict(plain.state_dict())
    assert all(b.use_checkpoint_attn and b.use_checkpoint_ffn for b in ckpt.modules()
               if isinstance(b, STL))
    x = torch.randn(1, 3, 30, 6, 9)
    out_p, out_c = plain(x), ckpt(x)
    torch.testing.assert_close(out_c, out_p)
    out_p.sum().backward()
    out_c.sum().backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(q.grad, p.grad, msg=name)


# ------------------------------------------------------------------------------------------
# Input checks
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize('call', [
    lambda: CAB(8, 3)(torch.randn(1, 1, 8, 4, 4)),
    lambda: CAB1(8, 3)(torch.randn(8, 4, 4)),
    lambda: CAB2(8, 3, add_channel=4)(torch.randn(1, 8, 4, 4)),  # channels
    lambda: LayerNorm2d(8)(torch.randn(8, 4)),
    lambda: SkipUpSample(4, 4)(torch.randn(8, 4, 4), torch.randn(4, 8, 8)),
    lambda: EncoderShiftBlock(16)(torch.randn(1, 3, 16, 8, 8)),
    lambda: EncoderShiftBlock(16)(torch.randn(3, 32, 8, 8)),  # channels
    lambda: temporal_channel_shift(torch.randn(4, 8, 8)),
    lambda: WindowAttention(8, (2, 4, 4), 2)(torch.randn(2, 8, 4, 4)),
    lambda: STG(8, 2, 2)(torch.randn(1, 8, 2, 4)),
    lambda: RSTBWithInputConv(**TINY_RECON)(torch.randn(3, 30, 8, 8)),
    lambda: RSTBWithInputConv(**TINY_RECON)(torch.randn(1, 3, 8, 8, 8)),  # channels
    lambda: CAB2(8, 3, add_channel=0),
    lambda: EncoderShiftBlock(8),
    lambda: STL(8, 2, window_size=(2, 4, 4), shift_size=(0, 4, 2)),
])
def test_bad_inputs_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


# ------------------------------------------------------------------------------------------
# Numerics
# ------------------------------------------------------------------------------------------
def test_layernorm2d_is_channel_layernorm():
    norm = randomize(LayerNorm2d(6))
    x = torch.randn(2, 6, 3, 4)
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (6, ), norm.weight, norm.bias, eps=1e-6)
    torch.testing.assert_close(norm(x), ref.permute(0, 3, 1, 2))


def explicit_window_attention(attn, x, mask=None):
    """softmax(q k^T * scale + bias (+ mask)) v, then proj: the textbook computation."""
    bn, n, c = x.shape
    heads = attn.num_heads
    q, k, v = attn.qkv_self(x).reshape(bn, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    logits = (q * attn.scale) @ k.transpose(-2, -1)  # bn, heads, n, n
    index = attn.relative_position_index[:n, :n].reshape(-1)
    bias = attn.relative_position_bias_table[index].reshape(n, n, heads).permute(2, 0, 1)
    logits = logits + bias
    if mask is not None:
        nw = mask.shape[0]
        logits = (logits.view(bn // nw, nw, heads, n, n) + mask[None, :, None]).view_as(logits)
    out = logits.softmax(-1) @ v
    return attn.proj(out.transpose(1, 2).reshape(bn, n, c))


@pytest.mark.parametrize('qk_scale', [None, 0.3])
def test_window_attention_sdpa_matches_explicit_softmax(qk_scale):
    window, shift, size = (2, 4, 4), (1, 2, 2), (4, 8, 12)
    attn = randomize(WindowAttention(12, window, 3, qkv_bias=True, qk_scale=qk_scale), std=0.5)
    mask = compute_mask(*size, window, shift, torch.device('cpu'))
    assert mask.shape == (2 * 2 * 3, 32, 32) and (mask == -100).any()
    x = torch.randn(2 * mask.shape[0], 32, 12)
    torch.testing.assert_close(attn(x, mask), explicit_window_attention(attn, x, mask),
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attn(x), explicit_window_attention(attn, x), atol=1e-5, rtol=1e-5)


def brute_force_stl(stl, x):
    """STL written as one global attention over all (padded, cyclically shifted) tokens:
    tokens attend only within their window, get -100 between different shift regions, and a
    relative bias looked up from in-window coordinates. Needs an input larger than the window
    in every dim."""
    attn = stl.attn
    b, d, h, w, c = x.shape
    ws, ss = stl.window_size, stl.shift_size
    y = stl.norm1(x)
    pads = [(-s) % k for s, k in zip((d, h, w), ws)]
    y = F.pad(y, (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
    size = y.shape[1:4]
    y = torch.roll(y, [-s for s in ss], (1, 2, 3))
    grid = torch.meshgrid(*[torch.arange(s) for s in size], indexing='ij')
    coords = torch.stack(grid, -1).reshape(-1, 3)  # L, 3
    ws_t, size_t, ss_t = torch.tensor(ws), torch.tensor(size), torch.tensor(ss)
    same_window = ((coords // ws_t)[:, None] == (coords // ws_t)[None]).all(-1)
    region = ((coords >= size_t - ws_t).long() + (coords >= size_t - ss_t).long()) * (ss_t > 0)
    same_region = (region[:, None] == region[None]).all(-1)
    local = coords % ws_t
    rel = local[:, None] - local[None] + (ws_t - 1)
    index = (rel * torch.tensor([(2 * ws[1] - 1) * (2 * ws[2] - 1), 2 * ws[2] - 1, 1])).sum(-1)
    bias = attn.relative_position_bias_table[index].permute(2, 0, 1)  # heads, L, L
    tokens = y.reshape(b, -1, c)
    q, k, v = attn.qkv_self(tokens).reshape(b, tokens.shape[1], 3, attn.num_heads,
                                            -1).permute(2, 0, 3, 1, 4)
    logits = (q * attn.scale) @ k.transpose(-2, -1) + bias
    logits = logits + torch.where(same_region, 0.0, -100.0)
    logits = logits.masked_fill(~same_window, float('-inf'))
    out = attn.proj((logits.softmax(-1) @ v).transpose(1, 2).reshape(b, -1, c))
    out = torch.roll(out.reshape(b, *size, c), list(ss), (1, 2, 3))[:, :d, :h, :w]
    x = x + out
    return x + stl.mlp(stl.norm2(x))


@pytest.mark.parametrize('shift', [(0, 0, 0), (1, 2, 2)])
def test_stl_matches_global_brute_force_with_padding_and_shift(shift):
    stl = randomize(STL(8, 2, window_size=(2, 4, 4), shift_size=shift), std=0.5)
    x = torch.randn(2, 3, 10, 7, 8)  # d, h, w: padded to 4, 12, 8
    mask = compute_mask(4, 12, 8, (2, 4, 4), (1, 2, 2), torch.device('cpu'))
    torch.testing.assert_close(stl(x, mask), brute_force_stl(stl, x), atol=1e-5, rtol=1e-5)


def test_window_size_shrinks_for_short_clips_and_small_maps():
    assert get_window_size((1, 64, 64), (2, 8, 8), (1, 4, 4)) == ((1, 8, 8), (0, 4, 4))
    assert get_window_size((3, 20, 28), (2, 8, 8), (1, 4, 4)) == ((2, 8, 8), (1, 4, 4))
    assert get_window_size((2, 5, 9), (2, 8, 8), (1, 4, 4)) == ((2, 5, 8), (0, 0, 4))
    assert get_window_size((2, 5, 9), (2, 8, 8)) == (2, 5, 8)


def test_window_partition_round_trip():
    x = torch.randn(2, 4, 8, 12, 3)
    windows = window_partition(x, (2, 4, 4))
    assert windows.shape == (2 * 2 * 2 * 3, 32, 3)
    torch.testing.assert_close(windows[1], x[0, :2, :4, 4:8].reshape(32, 3))
    assert torch.equal(window_reverse(windows, (2, 4, 4), 2, 4, 8, 12), x)


# ------------------------------------------------------------------------------------------
# Shifts
# ------------------------------------------------------------------------------------------
def test_temporal_channel_shift_rolls_channels_across_frames():
    # frame t, channel c holds 10 t + c; 3 frames of 4 channels, shift 2
    x = (10 * torch.arange(3)[:, None] + torch.arange(4)[None]).float().view(3, 4, 1, 1)
    forward = torch.tensor([[22, 23, 0, 1], [2, 3, 10, 11], [12, 13, 20, 21]]).float()
    backward = torch.tensor([[2, 3, 10, 11], [12, 13, 20, 21], [22, 23, 0, 1]]).float()
    assert torch.equal(temporal_channel_shift(x).view(3, 4), forward)
    assert torch.equal(temporal_channel_shift(x, reverse=True).view(3, 4), backward)
    # a single frame swaps its halves
    assert torch.equal(temporal_channel_shift(x[:1]).view(4), torch.tensor([2., 3, 0, 1]))


# Official spatial_shift2 (s = 4): (dy, dx) with out[y, x] = in[y - dy, x - dx]
FAR = [(8, 8), (8, 4), (8, 0), (8, -4), (8, -8), (-8, 8), (-8, 4), (-8, 0), (-8, -4), (-8, -8),
       (4, 8), (4, -8), (0, 8), (0, -8), (-4, 8), (-4, -8)]
NEAR = [(4, 4), (4, 0), (4, -4), (0, 4), (0, -4), (-4, 4), (-4, 0), (-4, -4)]


@pytest.mark.parametrize('number,per_far,per_near', [(4, 1, 2), (12, 5, 2), (1, 0, 1)])
def test_spatial_shift_moves_each_group_by_its_offset(number, per_far, per_near):
    offsets = [o for o in FAR for _ in range(per_far)] + [o for o in NEAR for _ in range(per_near)]
    assert len(offsets) == 8 * number
    h, w = 13, 11
    x = torch.randn(2, 8 * number, h, w)
    out = spatial_shift(x, number)
    ys, xs = torch.arange(h)[:, None], torch.arange(w)[None]
    for ch, (dy, dx) in enumerate(offsets):
        src_y, src_x = ys - dy, xs - dx
        inside = (src_y >= 0) & (src_y < h) & (src_x >= 0) & (src_x < w)
        expected = x[:, ch, src_y.clamp(0, h - 1), src_x.clamp(0, w - 1)] * inside
        assert torch.equal(out[:, ch], expected), (ch, dy, dx)


def test_spatial_shift_on_maps_smaller_than_the_shift():
    out = spatial_shift(torch.ones(1, 32, 3, 5), 4)  # number 4: 16 far, then 8 x 2 near
    assert out.shape == (1, 32, 3, 5)
    per_channel = out.sum((0, 2, 3))
    # every far group moves by 8 along some axis, near groups with dy = +-4 leave 3 rows: all
    # empty; only (0, 4) (channels 22, 23) and (0, -4) (24, 25) keep one column of 3 pixels
    expected = torch.zeros(32)
    expected[22:26] = 3
    assert torch.equal(per_channel, expected)
    assert torch.equal(out[0, 22, :, 4], torch.ones(3)) and torch.equal(out[0, 24, :, 0],
                                                                         torch.ones(3))


def test_channel_shift_appends_spatially_shifted_first_or_last_half():
    block = EncoderShiftBlock(32)
    x = torch.randn(3, 32, 12, 12)
    for reverse in (False, True):
        y = temporal_channel_shift(x, reverse=reverse)
        part = y[:, 16:] if reverse else y[:, :16]
        expected = torch.cat([y, spatial_shift(part, 2)], 1)
        assert torch.equal(block.channel_shift(x, reverse=reverse), expected)


def test_encoder_shift_block_is_identity_at_official_init():
    # beta = 0 makes every CAB1/CAB2 return its shortcut, and the four rolls (+c/2, -c/2,
    # +c/2, -c/2) cancel: only the shift bookkeeping decides the output
    block = EncoderShiftBlock(16)
    x = torch.randn(3, 16, 9, 10)
    with torch.no_grad():
        assert torch.equal(block(x), x)


def test_encoder_shift_block_mixes_frames_and_has_no_reverse_argument():
    block = randomize(EncoderShiftBlock(16), std=0.1).eval()
    x = torch.randn(4, 16, 12, 12)
    with torch.no_grad():
        out = block(x)
        with pytest.raises(TypeError):  # the official forward ignores ``reverse``: gone here
            block(x, reverse=1)
        x2 = x.clone()
        x2[0] += 1
        changed = (block(x2) - out).abs().flatten(1).amax(1) > 0
        # the rolls carry frame 0 to its neighbours in both directions (3 by wrap-around)
        assert changed[0] and changed[1] and changed[3]
        assert block(x[:1]).shape == (1, 16, 12, 12)
