"""VD-Diff model wrapper: stage losses and trained parameters, stage loading, test path."""
import copy
import os.path as osp

import pytest
import torch
from mmagic.registry import MODELS
from mmagic.structures import DataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

from vdeblur_mm.datasets.video_deblur_dataset import split_clip_settings, split_into_clips
from vdeblur_mm.models.losses import FFTL1Loss

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))
TINY = osp.join(ROOT, 'configs', 'vddiff', 'vddiff-{}_c16_1xb1-300i_synthetic.py')


def build(stage, **overrides):
    init_default_scope('mmagic')
    cfg = copy.deepcopy(Config.fromfile(TINY.format(stage)).model)
    cfg.update(overrides)
    return MODELS.build(cfg)


def samples(gt):
    ds = DataSample()
    ds.gt_img = gt
    return ds


def save_generator(model, path, drop=()):
    state = {f'generator.{k}': v for k, v in model.generator.state_dict().items()
             if not k.startswith(tuple(drop))}
    torch.save({'state_dict': state}, path)
    return str(path)


def test_stage_losses_and_trained_modules():
    torch.manual_seed(0)
    lq, gt = torch.rand(1, 2, 3, 32, 32), torch.rand(1, 2, 3, 32, 32)
    s1 = build('s1')
    s1.train()
    losses = s1(lq, samples(gt), mode='loss')
    assert set(losses) == {'loss_pix', 'loss_fft'}
    assert all(p.requires_grad for p in s1.generator.parameters())
    s2 = build('s2')
    s2.train()
    losses = s2(lq, samples(gt), mode='loss')
    assert set(losses) == {'loss_prior'}
    losses['loss_prior'].backward()
    # only the diffusion is optimised (the official S2 optimiser holds DM's parameters only)
    for name, p in s2.generator.named_parameters():
        assert p.requires_grad == name.startswith('dm.'), name
        if name.startswith('dm.'):
            assert p.grad is not None
    s3 = build('s3')
    s3.train()
    losses = s3(lq, samples(gt), mode='loss')
    assert set(losses) == {'loss_pix'}
    losses['loss_pix'].backward()
    assert all(p.grad is not None for p in s3.generator.parameters())
    with pytest.raises(ValueError, match='sharp frames of every input frame'):
        s3(lq, samples(gt[:, :1]), mode='loss')
    with pytest.raises(ValueError, match="'s2' trains the prior only"):
        build('s2', fft_loss=dict(type='FFTL1Loss', loss_weight=0.1))
    with pytest.raises(ValueError, match='not sub-modules'):
        build('s2', init_fresh=('diffusion', ))


def test_fft_loss_against_a_plain_dft():
    torch.manual_seed(1)
    a, b = torch.rand(2, 3, 6, 5, dtype=torch.float64), torch.rand(2, 3, 6, 5,
                                                                  dtype=torch.float64)
    h, w = a.shape[-2:]
    ky, kx = torch.arange(h).view(-1, 1, 1, 1), torch.arange(w // 2 + 1).view(1, -1, 1, 1)
    y, x = torch.arange(h).view(1, 1, -1, 1), torch.arange(w).view(1, 1, 1, -1)
    basis = torch.exp(-2j * torch.pi * (ky * y / h + kx * x / w))  # (h, w//2+1, h, w)
    d = (a - b).to(torch.complex128)
    dft = (d[..., None, None, :, :] * basis).sum((-2, -1))
    expected = 0.1 * dft.abs().mean()
    assert torch.allclose(FFTL1Loss(0.1)(a, b).double(), expected, rtol=1e-5)


def test_stage_loading_is_strict_with_explicit_fresh_modules(tmp_path):
    s1 = build('s1')
    ckpt1 = save_generator(s1, tmp_path / 's1.pth')
    s2 = build('s2', init_from=ckpt1)
    s2.init_weights()
    for k, v in s1.generator.state_dict().items():
        assert torch.equal(s2.generator.state_dict()[k], v)
    # without declaring DM fresh, the stage-1 checkpoint is incomplete
    with pytest.raises(ValueError, match=r'missing \[\'dm\.'):
        build('s2', init_from=ckpt1, init_fresh=()).init_weights()
    # a checkpoint that holds the 'fresh' module is ambiguous
    ckpt2 = save_generator(s2, tmp_path / 's2.pth')
    with pytest.raises(ValueError, match='meant to start fresh but held'):
        build('s2', init_from=ckpt2).init_weights()
    # stage 3 from stage 2: every key; a dropped key or an extra one fails
    s3 = build('s3', init_from=ckpt2)
    s3.init_weights()
    assert all(torch.equal(s3.generator.state_dict()[k], v)
               for k, v in s2.generator.state_dict().items())
    partial = save_generator(s2, tmp_path / 'partial.pth', drop=('wadt.recons', ))
    with pytest.raises(ValueError, match='wadt.recons'):
        build('s3', init_from=partial).init_weights()
    state = torch.load(ckpt2, weights_only=True)
    state['state_dict']['generator.extra.weight'] = torch.zeros(1)
    torch.save(state, tmp_path / 'extra.pth')
    with pytest.raises(ValueError, match='unexpected'):
        build('s3', init_from=str(tmp_path / 'extra.pth')).init_weights()
    with pytest.raises(FileNotFoundError, match='train it first'):
        build('s3', init_from=str(tmp_path / 'nowhere')).init_weights()
    # a work dir: its last_checkpoint
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'last_checkpoint').write_text(ckpt2)
    build('s3', init_from=str(work)).init_weights()


def test_inference_pads_to_16_and_crops_back_seeded():
    torch.manual_seed(2)
    model = build('s3').eval()
    lq = torch.rand(1, 5, 3, 36, 44)  # neither a multiple of 16; 5 frames > a chunk of 4
    with torch.no_grad():
        out = model.restore_video(lq)
        assert out.shape == lq.shape
        assert torch.equal(out, model.restore_video(lq))  # the prior's noise is seeded
        # the crop keeps the top-left part of the padded result (padding at the far sides)
        padded = model.generator(torch.nn.functional.pad(
            lq[:, :4].flatten(0, 1), (0, 4, 0, 12), mode='reflect').unflatten(0, (1, 4)),
            generator=torch.Generator().manual_seed(0))
        assert torch.allclose(out[:, :4], padded[..., :36, :44], atol=1e-6)
        other = build('s3', prior_seed=1)
        other.load_state_dict(model.state_dict())
        assert not torch.equal(other.eval().restore_video(lq), out)
    # the padding is the base's: a direct network call on these sizes names the problem
    with pytest.raises(ValueError, match='multiples of 16'):
        model.generator(lq[:, :2])


def test_stage1_testing_needs_the_sharp_frames():
    model = build('s1').eval()
    lq = torch.rand(1, 3, 3, 32, 32)
    with pytest.raises(ValueError, match='needs gt_img'):
        model.forward_inference(lq)
    ds = DataSample()
    ds.gt_img = torch.rand(1, 3, 3, 32, 32) * 255
    out = model.forward_inference(lq, ds)
    assert out.pred_img.shape == (1, 3, 3, 32, 32)


@pytest.mark.parametrize('length,frames,overlap,starts', [
    (100, 30, 0, [0, 30, 60, 70]),  # the last clip aligned to the end: 70..99
    (60, 30, 0, [0, 30]),
    (20, 30, 0, [0]),
    (10, 4, 1, [0, 3, 6]),
    (11, 4, 1, [0, 3, 6, 7]),
])
def test_split_clips_as_basicsr(length, frames, overlap, starts):
    item = dict(key='seq', blur_frames=[f'b{i}' for i in range(length)],
                sharp_frames=[f's{i}' for i in range(length)], sequence_length=length)
    clips = split_into_clips(item, frames, overlap)
    assert [c['clip_start'] for c in clips] == starts
    assert [c['key'] for c in clips] == [f'seq-{k:03d}' for k in range(len(starts))]
    for c in clips:
        n = min(frames, length)
        assert c['sequence_length'] == n == len(c['blur_frames']) == len(c['sharp_frames'])
        assert c['blur_frames'][0] == f"b{c['clip_start']}"
    with pytest.raises(ValueError, match='overlap < frames'):
        split_clip_settings(dict(frames=4, overlap=4))
    with pytest.raises(ValueError, match='takes frames and overlap'):
        split_clip_settings(dict(length=4))


def test_convert_checkpoint_tool_round_trip(tmp_path):
    import sys
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import convert_checkpoint

    from vdeblur_mm.models.editors.vddiff import convert_vddiff_ours_to_official
    torch.manual_seed(4)
    model = build('s3')
    official = convert_vddiff_ours_to_official(model.generator.state_dict())
    src = tmp_path / 'net_g_100000.pth'
    torch.save(official, src)  # {'params': ...}, as BasicSR saves
    out = tmp_path / 'ours.pth'
    convert_checkpoint.main(['vddiff-from-official', str(src), str(out), '--config',
                             TINY.format('s3')])
    other = build('s3')
    other.load_state_dict(torch.load(out)['state_dict'], strict=True)
    assert all(torch.equal(other.state_dict()[k], v) for k, v in model.state_dict().items())
    back = tmp_path / 'back.pth'
    convert_checkpoint.main(['vddiff-to-official', str(out), str(back)])
    again = torch.load(back)['params']
    assert set(again) == set(official['params'])
    assert all(torch.equal(again[k], v) for k, v in official['params'].items())
    # a stage-1 checkpoint does not fit a stage-3 config: named, not a deep load error
    s1_official = convert_vddiff_ours_to_official(build('s1').generator.state_dict())
    torch.save(s1_official, tmp_path / 's1.pth')
    with pytest.raises(SystemExit, match='does not match the configured VDDiffNet'):
        convert_checkpoint.main(['vddiff-from-official', str(tmp_path / 's1.pth'),
                                 str(tmp_path / 'x.pth'), '--config', TINY.format('s3')])
