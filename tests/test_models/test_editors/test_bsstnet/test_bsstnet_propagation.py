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
