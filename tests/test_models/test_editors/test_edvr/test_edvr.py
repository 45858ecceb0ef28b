"""EDVRDeblur: TSA warm-up, whole-video sliding-window testing, VideoRestorer, EDVR-L config."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmagic.registry import MODELS
from mmagic.structures import DataSample
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

from vdeblur_mm.inference import VideoRestorer
from vdeblur_mm.models.layers import window_indices

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))
TINY_CFG = osp.join(ROOT, 'configs', 'edvr_deblur', 'edvr-deblur_c16b1_1xb1-300i_synthetic.py')
REDS_CFG = osp.join(ROOT, 'configs', 'edvr_deblur', 'edvr-l-deblur_c128b40_8xb8-600k_reds4.py')


def build(path=TINY_CFG, **overrides):
    cfg = Config.fromfile(path)
    init_default_scope('mmagic')
    model_cfg = copy.deepcopy(cfg.model)
    for key, value in overrides.items():  # replace, not merge
        model_cfg[key] = value
    torch.manual_seed(0)
    return MODELS.build(model_cfg)


def clip_data(t=3, h=32, w=32, gt_frames=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (t, 3, h, w), generator=g).float()
    gt = torch.randint(0, 256, ((gt_frames, ) if gt_frames > 1 else ()) + (3, h, w),
                       generator=g).float()
    return dict(inputs=[frames], data_samples=[DataSample(gt_img=gt)])


def test_tsa_warmup_trains_only_fusion_for_tsa_iter_iterations():
    model = build(train_cfg=dict(tsa_iter=2))
    model.train()
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))

    def snapshot():
        return {k: v.detach().clone() for k, v in model.generator.named_parameters()}

    def changed(before):
        return {k for k, v in model.generator.named_parameters() if not torch.equal(v, before[k])}

    fusion = {k for k, _ in model.generator.named_parameters() if k.startswith('fusion.')}
    assert fusion and len(fusion) < len(dict(model.generator.named_parameters()))
    for it in range(2):
        before = snapshot()
        model.train_step(clip_data(seed=it), optim)
        assert changed(before) == fusion, f'iteration {it}'
        assert all(p.requires_grad == (k in fusion)
                   for k, p in model.generator.named_parameters())
    before = snapshot()
    model.train_step(clip_data(seed=2), optim)
    # every parameter trains from iteration tsa_iter on, except the offset convs: they feed the
    # zero-initialised conv_offset of the DCNs, so their gradient is still exactly zero
    offset_convs = {k for k in before if 'offset_conv' in k}
    assert offset_convs and changed(before) == set(before) - offset_convs
    assert all(p.requires_grad for p in model.generator.parameters())
    assert int(model.step_counter) == 3


def test_step_counter_survives_checkpoints_and_converted_weights_load_strictly():
    model = build(train_cfg=dict(tsa_iter=2))
    model.train_step(clip_data(), OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-4)))
    state = model.state_dict()
    assert int(state['step_counter']) == 1
    resumed = build(train_cfg=dict(tsa_iter=2))
    resumed.load_state_dict(state, strict=True)
    assert int(resumed.step_counter) == 1
    # a resumed run inside the warm-up freezes again, one past it does not
    resumed.train_step(clip_data(), OptimWrapper(torch.optim.Adam(resumed.parameters())))
    assert not resumed.generator.conv_last.weight.requires_grad
    resumed.train_step(clip_data(), OptimWrapper(torch.optim.Adam(resumed.parameters())))
    assert resumed.generator.conv_last.weight.requires_grad
    # converted weights have no counter: strict loading still succeeds
    weights = {k: v for k, v in state.items() if k != 'step_counter'}
    fresh = build()
    fresh.load_state_dict(weights, strict=True)
    assert int(fresh.step_counter) == 0


def test_no_warmup_without_tsa_iter():
    model = build(train_cfg=None)
    model.train_step(clip_data(), OptimWrapper(torch.optim.Adam(model.parameters())))
    assert all(p.requires_grad for p in model.parameters())


def test_training_window_predicts_the_centre_frame():
    model = build().eval()
    data = clip_data(t=3)
    out = model.val_step(data)
    assert len(out) == 1 and out[0].output.pred_img.shape == (3, 32, 32)
    x = data['inputs'][0][None] / 255.
    with torch.no_grad():
        ref = (model.generator(x)[0] * 255.).clamp(0, 255)
    torch.testing.assert_close(out[0].output.pred_img, ref, atol=1e-4, rtol=0)


def manual_video(model, frames):
    """Frame-by-frame windows with replicate padding, like the EDVR test script."""
    x = frames[None] / 255.
    t = x.shape[1]
    outs = []
    with torch.no_grad():
        for i in range(t):
            outs.append(model.generator(x[:, window_indices(t, i, 3)])[0])
    return (torch.stack(outs) * 255.).clamp(0, 255)


@pytest.mark.parametrize('t', [2, 3, 7])
def test_whole_video_is_restored_frame_by_frame(t):
    model = build().eval()
    calls = []
    model.generator.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    data = clip_data(t=t, gt_frames=t)
    out = model.val_step(data)[0].output.pred_img
    assert out.shape == (t, 3, 32, 32)
    assert max(calls) <= model.window_batch == 4 and sum(calls) == t
    torch.testing.assert_close(out, manual_video(model, data['inputs'][0]), atol=1e-4, rtol=0)


def test_whole_video_of_unpadded_size_is_padded_and_cropped():
    model = build().eval()
    data = clip_data(t=4, h=20, w=36, gt_frames=4)
    out = model.val_step(data)[0].output.pred_img
    assert out.shape == (4, 3, 20, 36)
    # mode='tensor' does not pad: the network's error says what to do
    with pytest.raises(ValueError, match='multiples of 16'):
        model(data['inputs'][0][None] / 255., mode='tensor')


def test_forward_tensor_slides_over_longer_clips():
    model = build().eval()
    x = torch.rand(2, 5, 3, 16, 16)
    with torch.no_grad():
        assert model(x, mode='tensor').shape == (2, 5, 3, 16, 16)
        assert model(x[:, :3], mode='tensor').shape == (2, 3, 16, 16)


def test_video_restorer_window_mode_matches_whole_video_testing():
    model = build().eval()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(6)]
    restorer = VideoRestorer(model, window_batch=2)
    assert restorer.spec['mode'] == 'window' and restorer.spec['window_frames'] == 3
    out = list(restorer(frames))
    assert len(out) == 6 and all(o.shape == (20, 24, 3) and o.dtype == np.uint8 for o in out)
    clip = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()
    pred = model.val_step(dict(inputs=[clip], data_samples=[DataSample(gt_img=clip)]))
    ref = pred[0].output.pred_img.round().permute(0, 2, 3, 1).numpy()
    assert np.abs(np.stack(out).astype(int) - ref.astype(int)).max() <= 1


def test_wrapper_needs_a_window_generator():
    init_default_scope('mmagic')
    with pytest.raises(ValueError, match='sliding-window generator'):
        MODELS.build(dict(
            type='EDVRDeblur',
            generator=dict(type='BasicVSRPlusPlusNet', mid_channels=8, num_blocks=1,
                           spynet_pretrained=None, is_low_res_input=False),
            pixel_loss=dict(type='CharbonnierLoss')))


@pytest.mark.slow
def test_edvr_l_reds_config_runs_one_forward():
    model = build(REDS_CFG).eval()
    assert sum(p.numel() for p in model.generator.parameters()) == 23_602_019
    x = torch.rand(1, 5, 3, 256, 256)
    with torch.no_grad():
        out = model(x, mode='tensor')  # about 6 s on one CPU core
    assert out.shape == (1, 3, 256, 256) and torch.isfinite(out).all()
