"""CascadeRestorer: frozen stage 1, stage-2 training, checkpoints, whole-video inference."""
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
from vdeblur_mm.models.layers import InferenceSpec, window_indices

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))
CFG = osp.join(ROOT, 'configs', 'edvr_deblur', 'edvr-deblur-stage2_c16b1_1xb1-300i_synthetic.py')


def model_cfg(**overrides):
    cfg = copy.deepcopy(Config.fromfile(CFG).model)
    for key, value in overrides.items():  # replace, not merge
        cfg[key] = value
    return cfg


def build(**overrides):
    init_default_scope('mmagic')
    torch.manual_seed(0)
    return MODELS.build(model_cfg(**overrides))


def data(t, h=32, w=32, gt_frames=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (t, 3, h, w), generator=g).float()
    shape = ((gt_frames, ) if gt_frames > 1 else ()) + (3, h, w)
    gt = torch.randint(0, 256, shape, generator=g).float()
    return dict(inputs=[frames], data_samples=[DataSample(gt_img=gt)])


def manual_centre(model, x):
    """Stage 1 on the 3-frame windows around clip frames c-1, c, c+1, stage 2 on those."""
    t = x.shape[1]
    c = t // 2
    with torch.no_grad():
        s1 = [model.stage1.generator(x[:, window_indices(t, i, 3)])
              for i in window_indices(t, c, 3)]
        return model.generator(torch.stack(s1, 1))


def test_frozen_stage1_gets_no_gradient_stage2_does():
    model = build()
    model.train()
    assert not model.stage1.training and model.generator.training
    assert not any(p.requires_grad for p in model.stage1.parameters())
    batch = model.data_preprocessor(data(5), True)
    loss = model(**batch, mode='loss')['loss']
    loss.backward()
    assert all(p.grad is None for p in model.stage1.parameters())
    grads = [p.grad for p in model.generator.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_optimizer_step_changes_only_stage2():
    model = build()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    model.train_step(data(5), optim)
    after = model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before if k.startswith('stage1.'))
    assert any(not torch.equal(after[k], before[k]) for k in before if k.startswith('generator.'))


def test_unfrozen_stage1_trains_too():
    model = build(freeze_stage1=False)
    model.train()
    assert model.stage1.training
    batch = model.data_preprocessor(data(5), True)
    model(**batch, mode='loss')['loss'].backward()
    assert model.stage1.generator.conv_last.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('t', [3, 5])
def test_centre_frame_goes_through_both_stages(t):
    model = build().eval()
    batch = model.data_preprocessor(data(t), False)
    with torch.no_grad():
        pred = model.restore_centre(batch['inputs'])
    torch.testing.assert_close(pred, manual_centre(model, batch['inputs']), atol=1e-5, rtol=0)
    out = model.val_step(data(t))[0].output.pred_img
    assert out.shape == (3, 32, 32)


@pytest.mark.parametrize('t', [2, 6])
def test_whole_video_returns_every_frame(t):
    model = build().eval()
    sample = data(t, h=20, w=36, gt_frames=t)
    out = model.val_step(sample)[0].output.pred_img
    assert out.shape == (t, 3, 20, 36)
    # equal to stage 2 slid over stage 1 slid over the (padded) video
    x = torch.nn.functional.pad(sample['inputs'][0] / 255., (0, 12, 0, 12), mode='reflect')[None]
    with torch.no_grad():
        s1 = torch.stack([model.stage1.generator(x[:, window_indices(t, i, 3)])
                          for i in range(t)], 1)
        s2 = torch.stack([model.generator(s1[:, window_indices(t, i, 3)])
                          for i in range(t)], 1)
    ref = (s2[0, ..., :20, :36] * 255).clamp(0, 255)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)
    with torch.no_grad():
        assert model(x, mode='tensor').shape == (1, t, 3, 32, 48)


def test_declares_sequence_inference_and_chunks_match_whole_video():
    model = build().eval()
    assert model.inference_spec == InferenceSpec(
        mode='sequence', window_frames=None, size_multiple=16, min_size=16, scale=1)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(9)]
    # an overlap of N1 + N2 - 2 = 4 frames makes chunk borders exact
    out = np.stack(list(VideoRestorer(model, chunk_frames=6, chunk_overlap=4)(frames))).astype(int)
    clip = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()
    pred = model.val_step(dict(inputs=[clip], data_samples=[DataSample(gt_img=clip)]))
    ref = pred[0].output.pred_img.round().permute(0, 2, 3, 1).numpy().astype(int)
    assert out.shape == ref.shape and np.abs(out - ref).max() <= 1


def save_stage1(tmp_path, seed=5):
    init_default_scope('mmagic')
    torch.manual_seed(seed)
    stage1 = MODELS.build(model_cfg().stage1)
    path = str(tmp_path / 'stage1.pth')
    torch.save(dict(state_dict=stage1.state_dict(), meta=dict()), path)
    return path, stage1.state_dict()


def test_stage1_checkpoint_is_loaded_and_survives_init_weights(tmp_path):
    path, state = save_stage1(tmp_path)
    model = build(stage1_checkpoint=path)
    loaded = model.stage1.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    model.init_weights()  # what the Runner does before training
    loaded = model.stage1.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert not any(p.requires_grad for p in model.stage1.parameters())


def test_stage1_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='stage1_checkpoint .*missing.pth does not exist'):
        build(stage1_checkpoint=str(tmp_path / 'missing.pth'))
    path, state = save_stage1(tmp_path)
    bad = str(tmp_path / 'bad.pth')
    torch.save({k: v for k, v in state.items() if 'conv_last' not in k}, bad)
    with pytest.raises(KeyError, match='does not fit the stage-1 model'):
        build(stage1_checkpoint=bad)


def test_stage1_must_normalise_like_the_cascade():
    cfg = model_cfg()
    cfg.stage1.data_preprocessor = dict(type='DataPreprocessor', mean=[0.5] * 3, std=[1.] * 3)
    init_default_scope('mmagic')
    with pytest.raises(ValueError, match='stage 1 data_preprocessor mean'):
        MODELS.build(cfg)


def test_stage1_in_sequence_mode():
    """Any restorer can be stage 1: here a sequence model (mmagic BasicVSR++, full-res)."""
    stage1 = dict(
        type='BasicVSR',
        generator=dict(type='BasicVSRPlusPlusNet', mid_channels=8, num_blocks=1,
                       is_low_res_input=False, spynet_pretrained=None),
        pixel_loss=dict(type='CharbonnierLoss'),
        test_cfg=dict(inference_spec=dict(mode='sequence', size_multiple=4, min_size=256)))
    model = build(stage1=stage1).eval()
    assert model.size_multiple == 16
    batch = model.data_preprocessor(data(5, h=256, w=256), False)
    with torch.no_grad():
        pred = model.restore_centre(batch['inputs'])
        s1 = model.stage1.generator(batch['inputs'])
        ref = model.generator(s1[:, 1:4])
    torch.testing.assert_close(pred, ref, atol=1e-5, rtol=0)
