import torch
from torchvision.ops import deform_conv2d

from vdeblur_mm.models.editors.bsstnet.bsstnet_propagation import (
    BlurAwareDeformableAlignment,
    forward_backward_consistency,
)


def reference_alignment(module, x, extra, f1, f2, s1, s2):
    """The official formulation, written out with torchvision's deform_conv2d."""
    out = module.conv_offset(torch.cat([extra, f1, f2], 1))
    o1, o2, m = torch.chunk(out, 3, 1)
    off = module.max_residue_magnitude * torch.tanh(torch.cat([o1, o2], 1))
    a, b = torch.chunk(off, 2, 1)
    a = a + f1.flip(1).repeat(1, a.size(1) // 2, 1, 1)
    b = b + f2.flip(1).repeat(1, b.size(1) // 2, 1, 1)
    m1, m2 = torch.chunk(m, 2, 1)
    m1 = m1 + ((2 * s1 - 1) * 0.1).repeat(1, m1.size(1), 1, 1)
    m2 = m2 + ((2 * s2 - 1) * 0.1).repeat(1, m2.size(1), 1, 1)
    mask = torch.sigmoid(torch.cat([m1, m2], 1))
    return deform_conv2d(x, torch.cat([a, b], 1), module.weight, module.bias, padding=1,
                         mask=mask)


def test_matches_torchvision_formulation_and_backpropagates():
    torch.manual_seed(0)
    c, dg = 8, 4
    m = BlurAwareDeformableAlignment(2 * c, c, deform_groups=dg)
    torch.nn.init.normal_(m.conv_offset[-1].weight, std=0.05)  # non-zero residues
    n, h, w = 2, 12, 10
    x = torch.randn(n, 2 * c, h, w, requires_grad=True)
    extra = torch.randn(n, 3 * c + 5, h, w)
    f1, f2 = torch.randn(n, 2, h, w) * 2, torch.randn(n, 2, h, w) * 2
    s1, s2 = torch.rand(n, 1, h, w), torch.rand(n, 1, h, w)
    out = m(x, extra, f1, f2, s1, s2)
    ref = reference_alignment(m, x, extra, f1, f2, s1, s2)
    assert out.shape == (n, c, h, w)
    assert torch.allclose(out, ref, atol=1e-4)
    out.sum().backward()
    assert x.grad is not None and m.conv_offset[0].weight.grad is not None


def test_fresh_module_samples_along_the_flow_with_sharpness_masks():
    torch.manual_seed(1)
    m = BlurAwareDeformableAlignment(4, 2, deform_groups=2)
    offset, mask = m.offsets_and_masks(torch.randn(1, 11, 6, 6), torch.full((1, 2, 6, 6), 1.5),
                                       torch.zeros(1, 2, 6, 6), torch.ones(1, 1, 6, 6),
                                       torch.zeros(1, 1, 6, 6))
    first, second = torch.chunk(offset, 2, 1)
    assert torch.allclose(first, torch.full_like(first, 1.5))  # residue 0: pure flow
    assert torch.equal(second, torch.zeros_like(second))
    m1, m2 = torch.chunk(mask, 2, 1)
    assert torch.allclose(m1, torch.sigmoid(torch.tensor(0.1)).expand_as(m1))  # sharp: favoured
    assert torch.allclose(m2, torch.sigmoid(torch.tensor(-0.1)).expand_as(m2))


def test_forward_backward_consistency():
    fw = torch.zeros(1, 2, 16, 16)
    fw[:, 0] = 2.0
    valid = forward_backward_consistency(fw, -fw)
    assert valid.shape == (1, 1, 16, 16)
    assert valid[..., :, :13].eq(1).all()  # the backward flow undoes the forward one
    assert valid[..., :, 15].eq(0).all()  # sampled outside the frame: no backward flow there
    assert forward_backward_consistency(fw, fw).eq(0).all()  # both point the same way


def reference_propagate(net, feats, flows, flows_check, sharp, name):
    """BSSTNet.propagate as written before its zero-skipping: the second neighbour's inputs
    at the second frame, and the propagated feature at the first, are explicit zeros."""
    from mmagic.models.utils import flow_warp
    n, t = sharp.shape[:2]
    h, w = flows.shape[-2:]
    frame_idx = list(range(t))
    flow_idx = list(range(-1, t - 1))
    if name.startswith('backward'):
        frame_idx = frame_idx[::-1]
        flow_idx = frame_idx
    feat_prop = flows.new_zeros(n, net.mid_channels, h, w)
    previous = list(feats)[-1]
    feats[name] = []
    for i, idx in enumerate(frame_idx):
        feat_current = feats[previous][idx]
        if i > 0:
            flow_n1 = flows[:, flow_idx[i]]
            check_n1 = flows_check[:, flow_idx[i]]
            cond_n1 = flow_warp(feat_prop, flow_n1.permute(0, 2, 3, 1))
            sharp_n1 = flow_warp(sharp[:, frame_idx[i - 1]], flow_n1.permute(0, 2, 3, 1))
            valid_n1 = forward_backward_consistency(flow_n1, check_n1)
            feat_n2 = torch.zeros_like(feat_prop)
            flow_n2 = torch.zeros_like(flow_n1)
            cond_n2 = torch.zeros_like(cond_n1)
            sharp_n2 = torch.zeros_like(sharp_n1)
            valid_n2 = torch.zeros_like(valid_n1)
            if i > 1:
                feat_n2 = feats[name][-2]
                flow_n2 = flow_n1 + flow_warp(flows[:, flow_idx[i - 1]],
                                              flow_n1.permute(0, 2, 3, 1))
                check_n2 = check_n1 + flow_warp(flows_check[:, flow_idx[i - 1]],
                                                check_n1.permute(0, 2, 3, 1))
                cond_n2 = flow_warp(feat_n2, flow_n2.permute(0, 2, 3, 1))
                sharp_n2 = flow_warp(sharp[:, frame_idx[i - 2]], flow_n2.permute(0, 2, 3, 1))
                valid_n2 = forward_backward_consistency(flow_n2, check_n2)
            cond = torch.cat([cond_n1, feat_current, cond_n2, sharp_n1, sharp[:, idx], sharp_n2,
                              valid_n1, valid_n2], dim=1)
            feat_prop = reference_alignment(net.deform_align[name],
                                            torch.cat([feat_prop, feat_n2], dim=1), cond,
                                            flow_n1, flow_n2, sharp_n1 * valid_n1,
                                            sharp_n2 * valid_n2)
        earlier = [feats[k][idx] for k in feats if k != name]
        feat_prop = feat_prop + net.backbone[name](torch.cat(earlier + [feat_prop], dim=1))
        feats[name].append(feat_prop)
    if name.startswith('backward'):
        feats[name] = feats[name][::-1]
    return feats


def test_propagation_skips_only_zeros():
    """The first frame's backbone without the zero propagated feature and the second frame's
    first-order alignment give what the full computation on those zeros gives."""
    from vdeblur_mm.models.editors.bsstnet import BSSTNet
    torch.manual_seed(0)
    net = BSSTNet(mid_channels=24, enc_channels=16, refine_flows=False,
                  swin_cfg=dict(num_blocks=1, depth=2, num_heads=2, window_size=(2, 4, 4)),
                  transformer_cfg=dict(embed_dim=32, num_heads=2, window_size=(4, 4),
                                       pool_size=(2, 2), depth=2, ffn_hidden=75))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.03)  # non-zero offset residues and betas
    net = net.double()
    n, t, c, h, w = 1, 5, 24, 12, 16
    spatial = [torch.randn(n, c, h, w, dtype=torch.float64) for _ in range(t)]
    fw, bw = (torch.randn(n, t - 1, 2, h, w, dtype=torch.float64) * 2 for _ in range(2))
    sharp = torch.rand(n, t, 1, h, w, dtype=torch.float64)
    feats, ref = {'spatial': list(spatial)}, {'spatial': list(spatial)}
    with torch.no_grad():
        for name, flows, check in (('backward_1', bw, fw), ('forward_1', fw, bw),
                                   ('backward_2', bw, fw), ('forward_2', fw, bw)):
            feats = net.propagate(feats, flows, check, sharp, name)
            ref = reference_propagate(net, ref, flows, check, sharp, name)
            for a, b in zip(feats[name], ref[name]):
                # float64 rounding only (the recurrence grows the features)
                assert (a - b).abs().max() <= 1e-10 * b.abs().max(), name
