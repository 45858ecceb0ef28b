"""FMANetVSRDB: both stages' losses, NetD from stage 1, whole-video testing, the converter and
the REDS config."""
import os.path as osp
import sys

import pytest
import torch
from mmagic.registry import MODELS
from mmagic.structures import DataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

from vdeblur_mm.models.editors.fmanet.convert import convert_fmanet_ours_to_official
from vdeblur_mm.models.editors.fmanet.fmanet import resolve_stage1_checkpoint

from .tiny import TINY

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))
PRE = dict(type='DataPreprocessor', mean=[0., 0., 0.], std=[255., 255., 255.],
           data_keys=['gt_img', 'gt_lr'])


def build(stage=2, **kwargs):
    init_default_scope('mmagic')
    torch.manual_seed(0)
    return MODELS.build(dict(type='FMANetVSRDB', generator=dict(type='FMANet', stage=stage,
                                                                **TINY),
                             data_preprocessor=PRE, **kwargs))


def batch(n=1, h=8, w=8, flows=True):
    g = torch.Generator().manual_seed(1)
    ds = DataSample()
    ds.set_tensor_data(dict(gt_img=torch.rand(n, 3, 3, 4 * h, 4 * w, generator=g),
                            gt_lr=torch.rand(n, 3, 3, h, w, generator=g)))
    if flows:
        ds.set_tensor_data(dict(gt_flow=torch.randn(n, 3, 2, h, w, generator=g)))
    return torch.rand(n, 3, 3, h, w, generator=g), ds


def test_stage1_and_stage2_losses():
    inputs, ds = batch()
    losses = build(stage=1).forward_train(inputs, ds)
    assert set(losses) == {'loss_recon', 'loss_hr_warp', 'loss_flow', 'loss_ta_d'}
    losses = build(stage=2).forward_train(inputs, ds)
    assert set(losses) == {'loss_recon', 'loss_hr_warp', 'loss_flow', 'loss_ta_d', 'loss_pix',
                           'loss_lr_warp', 'loss_ta_r'}
    sum(losses.values()).backward()


def test_stage2_scales_the_net_d_terms():
    inputs, ds = batch()
    one = build(stage=2, loss_weights=dict(net_d=1.0)).forward_train(inputs, ds)
    tenth = build(stage=2).forward_train(inputs, ds)  # the official net_d = 0.1
    for key in ('loss_recon', 'loss_hr_warp', 'loss_flow', 'loss_ta_d'):
        assert torch.allclose(tenth[key], 0.1 * one[key])
    assert torch.allclose(tenth['loss_pix'], one['loss_pix'])


def test_ta_and_flow_losses_vanish_at_their_targets():
    model = build(stage=2)
    inputs, ds = batch()
    out = model.generator.forward_train(inputs, ds.gt_img)  # with gradients, as in training
    # anchors of NetD equal to the sharp LR frames: NetD's TA loss is zero, NetR's is not
    ds.set_tensor_data(dict(gt_lr=out['anchor_d'].detach(), gt_flow=out['image_flow'].detach()))
    losses = model.forward_train(inputs, ds)
    assert losses['loss_ta_d'].item() == 0 and losses['loss_flow'].item() == 0
    assert losses['loss_ta_r'].item() > 0


def test_missing_pseudo_flows_and_bad_targets_raise():
    model = build(stage=1)
    inputs, ds = batch(flows=False)
    with pytest.raises(ValueError, match='pseudo-GT flows'):
        model.forward_train(inputs, ds)
    inputs, ds = batch()
    ds.set_tensor_data(dict(gt_img=ds.gt_img[:, 1]))
    with pytest.raises(ValueError, match='sharp HR frames of each window'):
        model.forward_train(inputs, ds)
    with pytest.raises(ValueError, match='unknown FMA-Net loss weights'):
        build(loss_weights=dict(recon=1, ta=2))


def test_init_net_d_from_stage1_checkpoint(tmp_path):
    stage1 = build(stage=1)
    with torch.no_grad():
        for p in stage1.parameters():
            p.add_(0.5)
    work = tmp_path / 'stage1'
    work.mkdir()
    ckpt = work / 'best_recon_PSNR_iter_2.pth'
    torch.save({'state_dict': stage1.state_dict()}, ckpt)
    stage2 = build(stage=2, init_net_d_from=str(work))
    stage2.init_weights()
    for k, v in stage1.generator.net_d.state_dict().items():
        assert torch.equal(stage2.generator.net_d.state_dict()[k], v)
    assert resolve_stage1_checkpoint(str(ckpt)) == str(ckpt)
    (work / 'best_recon_PSNR_iter_2.pth').rename(work / 'iter_2.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_2.pth'))
    assert resolve_stage1_checkpoint(str(work)) == str(work / 'iter_2.pth')
    with pytest.raises(FileNotFoundError, match='train stage 1 first'):
        build(stage=2, init_net_d_from=str(tmp_path / 'nothing')).init_weights()


def test_whole_video_test_slides_windows_with_replicated_borders():
    model = build(stage=2).eval()
    x = torch.rand(1, 5, 3, 8, 8)
    with torch.no_grad():
        video = model.restore_video(x)
        assert video.shape == (1, 5, 3, 32, 32)
        mid = model.generator(x[:, 1:4])
        first = model.generator(x[:, [0, 0, 1]])
    assert torch.allclose(video[:, 2], mid, atol=1e-6)
    assert torch.allclose(video[:, 0], first, atol=1e-6)


def test_stage1_predicts_the_blurry_frames_from_the_sharp_ones():
    model = build(stage=1).eval()
    x = torch.rand(1, 4, 3, 8, 8)
    ds = DataSample()
    hr = torch.rand(1, 4, 3, 32, 32)
    ds.set_tensor_data(dict(gt_img=hr))
    with torch.no_grad():
        out = model.reconstruct_blurry(x, hr)
        ref = model.generator.forward_train(x[:, [1, 2, 3]], hr[:, [1, 2, 3]])['recon']
    assert out.shape == (1, 4, 3, 8, 8)
    assert torch.allclose(out[:, 2], ref, atol=1e-6)
    with pytest.raises(ValueError, match='needs gt_img'):
        model.forward_inference(x, None)


def test_convert_checkpoint_tool_with_official_files(tmp_path):
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import convert_checkpoint
    model = build(stage=2)
    state_d, state_r = convert_fmanet_ours_to_official(model.generator.state_dict())
    d_file, r_file = tmp_path / 'model_D_best.pt', tmp_path / 'model_R_best.pt'
    torch.save({'epoch': 400, 'model_D_state_dict': state_d, 'optimizer_D_state_dict': {},
                'scheduler_D_state_dict': {}}, d_file)
    torch.save({'epoch': 400, 'model_R_state_dict': state_r, 'optimizer_R_state_dict': {},
                'scheduler_R_state_dict': {}}, r_file)
    out = tmp_path / 'ours.pth'
    convert_checkpoint.main(['fmanet-from-official', str(d_file), str(out), '--net-r',
                             str(r_file)])
    other = build(stage=2)
    other.load_state_dict(torch.load(out)['state_dict'], strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k
    back_d, back_r = tmp_path / 'D.pt', tmp_path / 'R.pt'
    convert_checkpoint.main(['fmanet-to-official', str(out), str(back_d), '--net-r-output',
                             str(back_r)])
    assert all(torch.equal(torch.load(back_d)['model_D_state_dict'][k], v)
               for k, v in state_d.items())
    assert all(torch.equal(torch.load(back_r)['model_R_state_dict'][k], v)
               for k, v in state_r.items())
    with pytest.raises(SystemExit, match='official FMA-Net'):
        convert_checkpoint.main(['fmanet-from-official', str(out), str(tmp_path / 'x.pth')])


def test_reds_config_builds_and_runs_a_64px_forward():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'fmanet',
                                   'fmanet-stage2_c90f4_1xb8-1303k_reds.py'))
    init_default_scope('mmagic')
    model = MODELS.build(cfg.model).eval()
    assert sum(p.numel() for p in model.generator.parameters()) == 9766503
    with torch.no_grad():
        out = model(torch.rand(1, 3, 3, 64, 64), mode='tensor')
    assert out.shape == (1, 3, 256, 256)
