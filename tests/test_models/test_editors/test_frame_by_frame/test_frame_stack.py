import pytest
import torch
from mmagic.registry import MODELS
from mmengine.registry import init_default_scope

from vdeblur_mm.models.editors.frame_by_frame import FrameByFrameNet, FrameStackNet


def nafnet(channels):
    return dict(type='NAFNet', img_channels=channels, mid_channels=8, enc_blk_nums=[1, 1],
                middle_blk_num=1, dec_blk_nums=[1, 1])


def build_restorer(num_frames=3):
    init_default_scope('mmagic')
    return MODELS.build(dict(
        type='FrameStackRestorer',
        generator=dict(type='FrameStackNet', num_frames=num_frames,
                       image_net=nafnet(3 * num_frames), size_multiple=4),
        pixel_loss=dict(type='MSELoss'),
        data_preprocessor=dict(type='DataPreprocessor', mean=[0.] * 3, std=[255.] * 3)))


def test_frame_stack_net_shapes_gradients_and_errors():
    init_default_scope('mmagic')
    net = FrameStackNet(nafnet(9), num_frames=3, size_multiple=4)
    x = torch.rand(2, 3, 3, 16, 20, requires_grad=True)
    y = net(x)
    assert y.shape == (2, 3, 16, 20)
    y.square().mean().backward()
    assert x.grad is not None and x.grad[:, 0].abs().sum() > 0  # the neighbours are used
    assert all(p.grad is not None for p in net.parameters())
    assert net.inference_spec == dict(mode='window', window_frames=3, size_multiple=4,
                                      min_size=4)
    with pytest.raises(ValueError, match='windows of 3 frames'):
        net(torch.rand(1, 5, 3, 16, 16))
    with pytest.raises(ValueError, match='must be odd'):
        FrameStackNet(nafnet(6), num_frames=2)
    with pytest.raises(ValueError, match='img_channels=9'):
        FrameStackNet(nafnet(3), num_frames=3)


def test_inflated_single_frame_weights_give_the_single_frame_output():
    init_default_scope('mmagic')
    torch.manual_seed(0)
    single = FrameByFrameNet(nafnet(3), size_multiple=4)
    torch.nn.init.normal_(single.net.ending.weight, std=0.1)  # not the identity
    restorer = build_restorer()
    state = {'generator.' + k: v for k, v in single.state_dict().items()}
    restorer.load_state_dict(restorer.generator.inflate_single_frame_state(state))
    x = torch.rand(2, 3, 3, 16, 20)
    with torch.no_grad():
        assert torch.allclose(restorer.generator(x), single(x[:, 1]), atol=1e-6)
    # a state of another network is refused by name, not by a shape error deep in a load
    other = FrameByFrameNet(dict(nafnet(3), mid_channels=4), size_multiple=4)
    with pytest.raises(ValueError, match='cannot become'):
        restorer.generator.inflate_single_frame_state(
            {'generator.' + k: v for k, v in other.state_dict().items()})


def test_frame_stack_restorer_slides_a_three_frame_window_over_videos():
    model = build_restorer().eval()
    torch.nn.init.normal_(model.generator.net.ending.weight, std=0.1)  # not the identity
    clip = torch.rand(1, 5, 3, 16, 20)
    with torch.no_grad():
        a = model.restore_video(clip)
        # the ends replicate the first/last frame: windows (0, 0, 1) and (3, 4, 4)
        assert torch.allclose(a[:, 0], model.generator(clip[:, [0, 0, 1]]), atol=1e-6)
        assert torch.allclose(a[:, 4], model.generator(clip[:, [3, 4, 4]]), atol=1e-6)
        assert torch.allclose(a[:, 2], model.generator(clip[:, 1:4]), atol=1e-6)
        changed = clip.clone()
        changed[:, 3] = torch.rand_like(changed[:, 3])
        b = model.restore_video(changed)
        odd = model.restore_video(torch.rand(1, 4, 3, 18, 22))  # padded to 4, cropped back
    assert odd.shape == (1, 4, 3, 18, 22)
    # frame 3 reaches the outputs of frames 2, 3 and 4 only (windows of three)
    diff = (a - b).abs().flatten(2).amax(-1)[0]
    assert torch.all(diff[[2, 3, 4]] > 0) and torch.all(diff[[0, 1]] == 0)
    # a training-style window gives its centre frame
    window = torch.rand(2, 3, 3, 16, 16)
    with torch.no_grad():
        assert model(window, mode='tensor').shape == (2, 3, 16, 16)


def test_frame_stack_restorer_rejects_a_video_generator():
    init_default_scope('mmagic')
    with pytest.raises(ValueError, match='sliding-window generator'):
        MODELS.build(dict(type='FrameStackRestorer',
                          generator=dict(type='BasicVSRPlusPlusNet', mid_channels=8,
                                         num_blocks=1, spynet_pretrained=None),
                          pixel_loss=dict(type='MSELoss')))
