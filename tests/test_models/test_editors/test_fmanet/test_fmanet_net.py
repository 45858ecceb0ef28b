"""FMA-Net network: shapes, gradients, the block rewrites against their plain definitions,
colour-order conversion and bad input."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from vdeblur_mm.models.editors.fmanet import FMANet
from vdeblur_mm.models.editors.fmanet.convert import (
    _swap_colour,
    convert_fmanet_official_to_ours,
    convert_fmanet_ours_to_official,
)
from vdeblur_mm.models.editors.fmanet.fmanet_blocks import (
    RRDB,
    Attention,
    FeedForward,
    FrameConv3d,
    LayerNorm,
    add_in_row_bands_,
)
from vdeblur_mm.models.editors.fmanet.fmanet_frma import (
    FRMA,
    channels_to_frames,
    conv1x1_over_frames,
    frames_to_channels,
    multi_flow_warp,
    multi_flow_warp_rows,
)

from .tiny import tiny_fmanet


def test_shapes_of_both_stages():
    net = tiny_fmanet(stage=2)
    x = torch.rand(2, 3, 3, 8, 12)
    hr = torch.rand(2, 3, 3, 32, 48)
    assert net(x).shape == (2, 3, 32, 48)
    out = net.forward_train(x, hr)
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes == dict(output=(2, 3, 32, 48), recon=(2, 3, 8, 12), hr_warp=(2, 3, 3, 32, 48),
                          image_flow=(2, 3, 2, 8, 12), anchor_d=(2, 3, 3, 8, 12),
                          lr_warp=(2, 3, 3, 8, 12), anchor_r=(2, 3, 3, 8, 12))
    assert torch.equal(net(x), out['output'])
    stage1 = tiny_fmanet(stage=1)
    assert set(stage1.forward_train(x, hr)) == {'recon', 'hr_warp', 'image_flow', 'anchor_d'}
    assert stage1.net_r is None


def test_gradients_reach_every_parameter():
    net = tiny_fmanet(stage=2)
    out = net.forward_train(torch.rand(1, 3, 3, 8, 8), torch.rand(1, 3, 3, 32, 32))
    sum(v.abs().mean() for v in out.values()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def test_parameter_count_of_the_official_network():
    net = FMANet()
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert (count(net), count(net.net_d), count(net.net_r)) == (9766503, 3225837, 6540666)


@pytest.mark.parametrize('kernel', [(1, 3, 3), (3, 3, 3), (1, 1, 1)])
def test_frame_conv3d_equals_conv3d(kernel):
    torch.manual_seed(0)
    conv = FrameConv3d(4, 5, kernel, padding=tuple(k // 2 for k in kernel)).double()
    x = torch.rand(2, 3, 4, 6, 7, dtype=torch.float64)  # (n, t, c, h, w)
    ref = nn.functional.conv3d(x.transpose(1, 2), conv.weight, conv.bias,
                               padding=conv.padding).transpose(1, 2)
    assert (conv(x) - ref).abs().max() < 1e-12


def test_rrdb_equals_the_concatenated_fusion():
    torch.manual_seed(0)
    rrdb = RRDB(6, 3, 4, 2, bias=True).double()
    x = torch.rand(1, 2, 6, 5, 5, dtype=torch.float64)
    feats, f = [], x
    for rdb in rrdb.rdbs:
        f = rdb(f)
        feats.append(f)
    fused = rrdb.conv[0](torch.cat(feats, 2))  # the official cat + 1x1 conv
    ref = rrdb.conv[1](fused) + x
    assert (rrdb(x) - ref).abs().max() < 1e-12


@pytest.mark.parametrize('kind', ['WithBias', 'BiasFree'])
def test_layer_norm_equals_restormer_definition(kind):
    ln = LayerNorm(6, kind).double()
    with torch.no_grad():
        ln.body.weight.uniform_()
        if ln.body.bias is not None:
            ln.body.bias.uniform_()
    x = torch.randn(2, 6, 4, 5, dtype=torch.float64)
    t = x.permute(0, 2, 3, 1)  # per pixel, over channels
    var = t.var(-1, keepdim=True, unbiased=False)
    ref = (t - t.mean(-1, keepdim=True) if kind == 'WithBias' else t) / torch.sqrt(var + 1e-5)
    ref = ref * ln.body.weight + (ln.body.bias if ln.body.bias is not None else 0)
    assert (ln(x) - ref.permute(0, 3, 1, 2)).abs().max() < 1e-12


def test_attention_query_comes_from_the_second_argument():
    torch.manual_seed(0)
    attn = Attention(8, 2, bias=False)
    x, q1, q2 = torch.rand(3, 1, 8, 5, 5).unbind(0)
    assert attn(x, q1).shape == (1, 8, 5, 5)
    assert not torch.allclose(attn(x, q1), attn(x, q2))


@pytest.mark.parametrize('bias', [False, True])
def test_attention_equals_restormer_definition(bias):
    """The Gram matrix scaled by inverse norms and project_out folded into the attention map
    equal normalise -> q k^T -> softmax -> attn v -> project_out (Restormer's MDTA)."""
    torch.manual_seed(0)
    attn = Attention(8, 2, bias=bias).double()
    with torch.no_grad():
        attn.temperature.uniform_(0.5, 2)
    x, query = torch.rand(2, 2, 8, 5, 6, dtype=torch.float64).unbind(0)
    n, c, h, w = x.shape
    q = attn.q_dwconv(attn.q(query)).reshape(n, 2, c // 2, h * w)
    k, v = attn.kv_dwconv(attn.kv_conv(x)).chunk(2, dim=1)
    k, v = k.reshape(n, 2, c // 2, h * w), v.reshape(n, 2, c // 2, h * w)
    a = (F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
         * attn.temperature).softmax(-1)
    ref = attn.project_out((a @ v).reshape(n, c, h, w))
    for grad in (True, False):
        with torch.set_grad_enabled(grad):
            assert (attn(x, query) - ref).abs().max() < 1e-12


@pytest.mark.parametrize('band', [1, 2, 3, 7, 40])
def test_add_in_row_bands_equals_the_whole_map(band):
    """x + fn(x) band by band, for a map of halo 2 (two 3x3 convolutions with zero padding),
    bands smaller than the halo refused; a 1x1 map (halo 0) in bands of one row."""
    torch.manual_seed(0)
    convs = nn.Sequential(nn.Conv2d(4, 5, 3, padding=1), nn.Tanh(),
                          nn.Conv2d(5, 4, 3, padding=1)).double()
    x = torch.rand(2, 4, 13, 6, dtype=torch.float64)
    with torch.no_grad():
        ref = x + convs(x)
        if band < 2:
            with pytest.raises(ValueError, match='halo of 2 rows'):
                add_in_row_bands_(x.clone(), convs, 2, band)
        else:
            assert (add_in_row_bands_(x.clone(), convs, 2, band) - ref).abs().max() < 1e-14
        one = nn.Conv2d(4, 4, 1).double()
        assert (add_in_row_bands_(x.clone(), one, 0, band) - (x + one(x))).abs().max() < 1e-14


@pytest.mark.parametrize('band', [1, 2, 5, 16])
def test_banded_attention_and_feed_forward_equal_the_whole_map(band):
    """MDTA in two passes over row bands (Gram matrices and norms summed, then applied) and
    the GDFN band by band equal the whole-map residuals."""
    torch.manual_seed(0)
    attn = Attention(8, 2, bias=True).double()
    ffn = FeedForward(8, 2.66, bias=True).double()
    norm = LayerNorm(8).double()
    with torch.no_grad():
        attn.temperature.uniform_(0.5, 2)
        norm.body.weight.uniform_(0.5, 2)
        x, query = torch.rand(2, 2, 8, 11, 6, dtype=torch.float64).unbind(0)
        ref = x + attn(norm(x), query)
        assert (attn.add_banded_(x.clone(), norm, query, band) - ref).abs().max() < 1e-12
        ref = x + ffn(norm(x))
        out = add_in_row_bands_(x.clone(), lambda r: ffn(norm(r)), 1, band)
        assert (out - ref).abs().max() < 1e-12


def test_frame_channel_interleaving_is_c_times_t_plus_t():
    x = torch.arange(2 * 3 * 4).float().view(1, 3, 4, 1, 2)  # (n, t=3, c=4, 1, 2)
    y = frames_to_channels(x)
    assert torch.equal(y[0, 2 * 3 + 1], x[0, 1, 2])  # channel c*T + t
    assert torch.equal(channels_to_frames(y, 3), x)


def test_conv1x1_over_frames_equals_the_conv_of_the_interleaved_concatenation():
    torch.manual_seed(0)
    frames = torch.rand(2, 3, 4, 5, 6, dtype=torch.float64)
    lead = torch.rand(2, 7, 5, 6, dtype=torch.float64)
    for bias in (True, False):
        conv = torch.nn.Conv2d(7 + 12, 5, 1, bias=bias).double()
        ref = conv(torch.cat([lead, frames_to_channels(frames)], 1))
        assert torch.allclose(conv1x1_over_frames(conv, frames, lead), ref, atol=1e-12)
        streamed = conv1x1_over_frames(conv, ((lambda i: frames[:, i]), 3), lead)
        assert torch.allclose(streamed, ref, atol=1e-12)
        no_lead = torch.nn.Conv2d(12, 5, 1, bias=bias).double()
        assert torch.allclose(conv1x1_over_frames(no_lead, frames),
                              no_lead(frames_to_channels(frames)), atol=1e-12)


def test_multi_flow_warp_groups_channels_consecutively():
    feat = torch.rand(1, 1, 4, 3, 5, dtype=torch.float64)
    fm = torch.zeros(1, 1, 6, 3, 5, dtype=torch.float64)
    fm[:, :, 2] = fm[:, :, 5] = 50.0
    fm[:, :, 3] = 1.0  # second group (channels 2, 3) one pixel to the right
    out = multi_flow_warp(feat, fm, 2)
    assert torch.allclose(out[:, :, :2], feat[:, :, :2])
    assert torch.allclose(out[..., 2:, :, :4], feat[..., 2:, :, 1:])
    with pytest.raises(ValueError, match='multi-flow warping'):
        multi_flow_warp(feat, fm[:, :, :5], 2)


def test_multi_flow_warp_rows_equal_the_rows_of_the_whole_warp():
    """Rows of one frame warped from its whole map (flows reaching outside the band and the
    frame) equal those rows of mmagic's flow_warp of the whole frame."""
    g = torch.Generator().manual_seed(4)
    feat = torch.rand(2, 1, 6, 9, 7, generator=g, dtype=torch.float64)
    fm = torch.randn(2, 1, 6, 9, 7, generator=g, dtype=torch.float64) * 4
    whole = multi_flow_warp(feat, fm, 2)[:, 0]
    for y0, y1 in ((0, 3), (3, 8), (8, 9)):
        rows = multi_flow_warp_rows(feat[:, 0], fm[:, 0, :, y0:y1], 2, y0)
        assert (rows - whole[:, :, y0:y1]).abs().max() < 1e-14


def test_colour_swap_is_bgr_rgb_reinterpretation():
    """Swapping the colour blocks of a network's state gives the network that computes on
    reversed channels what the original computes: every image-channel layer is covered."""
    net = tiny_fmanet(stage=2, dtype=torch.float64)
    state = net.state_dict()
    swapped = {}
    for n in ('d', 'r'):
        sub = {k[6:]: v for k, v in state.items() if k.startswith(f'net_{n}.')}
        swapped.update({f'net_{n}.' + k: v for k, v in _swap_colour(sub, n).items()})
    other = tiny_fmanet(stage=2, dtype=torch.float64)
    other.load_state_dict(swapped)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 3, 8, 8, generator=g, dtype=torch.float64)
    hr = torch.rand(1, 3, 3, 32, 32, generator=g, dtype=torch.float64)
    with torch.no_grad():
        a = net.forward_train(x, hr)
        b = other.forward_train(x.flip(2), hr.flip(2))
    for key, dim in (('output', 1), ('recon', 1), ('anchor_d', 2), ('anchor_r', 2),
                     ('lr_warp', 2), ('hr_warp', 2)):
        assert (a[key] - b[key].flip(dim)).abs().max() < 1e-10, key
    assert (a['image_flow'] - b['image_flow']).abs().max() < 1e-10


def test_official_conversion_round_trips():
    net = tiny_fmanet(stage=2)
    state_d, state_r = convert_fmanet_ours_to_official(net.state_dict())
    assert any(k.startswith('FRMA_blocks.0.') for k in state_d)
    assert any('.rdb_KD.' in k for k in state_r) and any('.conv_Fw.' in k for k in state_r)
    assert 'feature_extractor.2.RDBs.0.conv.weight' in state_d
    back = convert_fmanet_official_to_ours(state_d, state_r)
    assert back.keys() == net.state_dict().keys()
    assert all(torch.equal(back[k], v) for k, v in net.state_dict().items())
    # the official layers see BGR: the first conv's input channels are reversed
    w = net.state_dict()['net_d.feature_extractor.0.weight']
    assert torch.equal(state_d['feature_extractor.0.weight'], w.flip(1))


def test_bad_input_raises_clear_errors():
    net = tiny_fmanet(stage=2)
    with pytest.raises(ValueError, match='exactly 3 frames'):
        net(torch.rand(1, 5, 3, 8, 8))
    with pytest.raises(ValueError, match=r'\(n, t, 3, h, w\)'):
        net(torch.rand(1, 3, 4, 8, 8))
    with pytest.raises(ValueError, match='x4 sharp windows'):
        net.forward_train(torch.rand(1, 3, 3, 8, 8), torch.rand(1, 3, 3, 16, 16))
    with pytest.raises(ValueError, match='stage-1 FMA-Net'):
        tiny_fmanet(stage=1)(torch.rand(1, 3, 3, 8, 8))
    with pytest.raises(ValueError, match='multiple of the'):
        tiny_fmanet(degradation_kernel_size=6).forward_train(torch.rand(1, 3, 3, 4, 4),
                                                             torch.rand(1, 3, 3, 16, 16))
    with pytest.raises(ValueError, match='num_flows'):
        FMANet(dim=20, num_flows=3, num_frames=1)
    with pytest.raises(ValueError, match='stage must be'):
        FMANet(stage=3)
    with pytest.raises(ValueError, match='odd'):
        FMANet(num_frames=4)


def test_leaky_relu_inplace_does_not_corrupt_grads():
    """The in-place activations must not overwrite tensors autograd saved (same result as a
    double-precision finite difference on one parameter)."""
    net = tiny_fmanet(stage=2, dtype=torch.float64)
    x = torch.rand(1, 3, 3, 4, 4, dtype=torch.float64)
    p = net.net_r.res_conv1.weight
    loss = lambda: net(x).sum()  # noqa: E731
    loss().backward()
    g = p.grad[0, 0, 1, 1].item()
    with torch.no_grad():
        p[0, 0, 1, 1] += 1e-6
        up = loss().item()
        p[0, 0, 1, 1] -= 2e-6
        down = loss().item()
    assert abs((up - down) / 2e-6 - g) < 1e-5 * max(1.0, abs(g))
    assert F.leaky_relu  # the module uses F.leaky_relu(..., inplace=True) on fresh outputs


def test_lean_inference_path_equals_the_training_path(monkeypatch):
    """Without gradients the network streams frames (kernels, per-frame blocks), chunks
    NetD's kernels and the feed-forward hidden channels, overwrites maps it owns, runs the
    attention blocks, the RDBs, the DA queries and the kernel feature in row bands and bands
    the x4 residual branch: the same function."""
    from vdeblur_mm.models.editors.fmanet.fmanet_blocks import RDB, MultiAttentionBlock
    from vdeblur_mm.models.editors.fmanet.fmanet_net import NetR
    monkeypatch.setattr(FeedForward, 'inference_chunk', 16)
    monkeypatch.setattr(MultiAttentionBlock, 'inference_band', 4)
    monkeypatch.setattr(RDB, 'inference_band', 5)
    monkeypatch.setattr(FRMA, 'warp_band', 7)
    monkeypatch.setattr(NetR, 'residual_band', 5)
    monkeypatch.setattr(NetR, 'kernel_chunk', 3)  # of 16 sub-pixels: a remainder of one
    monkeypatch.setattr(FMANet, 'kernel_chunk', 5)  # several chunks and a remainder
    monkeypatch.setattr(FMANet, 'kernel_band', 6)
    net = tiny_fmanet(stage=2, dtype=torch.float64)
    x = torch.rand(1, 3, 3, 29, 6, dtype=torch.float64)
    ref = net(x)  # gradients on: the batched training path
    with torch.no_grad():
        lean = net(x)
    assert (lean - ref).abs().max() < 1e-10
