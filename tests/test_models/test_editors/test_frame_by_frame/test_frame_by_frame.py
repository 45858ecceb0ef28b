import pytest
import torch
from mmagic.registry import MODELS
from mmengine.registry import init_default_scope

from vdeblur_mm.models.editors.frame_by_frame import FrameByFrameNet

NAFNET = dict(type='NAFNet', img_channels=3, mid_channels=8, enc_blk_nums=[1, 1],
              middle_blk_num=1, dec_blk_nums=[1, 1])


def build_model():
    init_default_scope('mmagic')
    return MODELS.build(dict(
        type='FrameByFrameRestorer',
        generator=dict(type='FrameByFrameNet', image_net=NAFNET, size_multiple=4),
        pixel_loss=dict(type='MSELoss'),
        init_cfg=dict(type='ZeroInitSubmodules', names=['generator.net.ending']),
        data_preprocessor=dict(type='DataPreprocessor', mean=[0.] * 3, std=[255.] * 3)))


def test_frame_by_frame_net_shapes_gradients_and_errors():
    init_default_scope('mmagic')
    net = FrameByFrameNet(NAFNET, size_multiple=4)
    x = torch.rand(2, 1, 3, 16, 20, requires_grad=True)
    y = net(x)
    assert y.shape == (2, 3, 16, 20)
    assert torch.allclose(net(x[:, 0]), y)  # a 4-D batch of frames is the same
    y.square().mean().backward()
    assert x.grad is not None and all(p.grad is not None for p in net.parameters())
    assert net.inference_spec == dict(mode='window', window_frames=1, size_multiple=4,
                                      min_size=4)
    with pytest.raises(ValueError, match='one frame at a time'):
        net(torch.rand(1, 3, 3, 16, 16))


def test_frame_by_frame_restorer_starts_at_identity_and_restores_each_frame():
    model = build_model().eval()
    model.init_weights()
    clip = torch.rand(1, 5, 3, 18, 22)  # odd sizes: padded to 4 and cropped back
    with torch.no_grad():
        out = model.restore_video(clip)
    assert out.shape == clip.shape
    assert torch.allclose(out, clip, atol=1e-6)  # zero last conv: the identity
    # every frame is restored on its own: changing frame 3 changes no other output frame
    torch.nn.init.normal_(model.generator.net.ending.weight, std=0.1)
    with torch.no_grad():
        a = model.restore_video(clip)
        clip2 = clip.clone()
        clip2[:, 3] = torch.rand_like(clip2[:, 3])
        b = model.restore_video(clip2)
    changed = (a - b).abs().flatten(2).amax(-1)[0]
    assert changed[3] > 0 and torch.all(changed[[0, 1, 2, 4]] == 0)
    with torch.no_grad():
        per_frame = model(clip[:, :, :, :16, :20], mode='tensor')
    assert per_frame.shape == (1, 5, 3, 16, 20)


def test_frame_by_frame_restorer_rejects_a_multi_frame_generator():
    init_default_scope('mmagic')
    with pytest.raises(ValueError, match='one-frame window generator'):
        MODELS.build(dict(type='FrameByFrameRestorer',
                          generator=dict(type='EDVRDeblurNet', mid_channels=8, num_frames=3,
                                         deform_groups=1, num_extract_block=1,
                                         num_reconstruct_block=1),
                          pixel_loss=dict(type='MSELoss')))
