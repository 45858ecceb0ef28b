"""mmagic's own tools (the copies inside the installed mmagic package) train, test, resume and run
2-process (gloo) DDP on this package's configs, with no tool of ours involved."""
import glob
import json
import os.path as osp
import sys

import cv2
import mmagic
import pytest
import torch

from .test_train_test_tools import (
    ALL_FRAMES,
    ROOT,
    TINY,
    TINY_BSSTNET,
    TINY_CASCADE,
    TINY_EDVR,
    data_options,
    free_port,
    run_tool,
)

STOCK = osp.join(osp.dirname(mmagic.__file__), '.mim', 'tools')
# the demo model's training config (three-frame NAFNet, FrameStackRestorer)
DEMO_STACK3 = osp.join(ROOT, 'configs', 'nafnet_frames', 'nafnet-stack3_c16_1xb8-demo_synthetic.py')
# the environment's interpreter first: the stock dist_train.sh calls plain `python`
ENV_PATH = dict(PATH=f"{osp.dirname(sys.executable)}:{__import__('os').environ['PATH']}")


def stock(tool):
    path = osp.join(STOCK, tool)
    assert osp.isfile(path), f'mmagic install has no {path}'
    return path


def test_startup_hook_applies_compat_before_mmagic():
    """The stock tools import mmagic.utils before reading any config: numpy 2's missing
    np.bool8 must already be back then (vdeblur_mm_startup.pth), without importing our
    package itself."""
    code = ('import sys, numpy as np, mmagic.utils\n'
            'assert np.bool8 is np.bool_\n'
            'assert "vdeblur_mm.compat" in sys.modules and "vdeblur_mm" not in sys.modules\n')
    run_tool([sys.executable, '-c', code])


@pytest.mark.slow
@pytest.mark.parametrize('config,frames,extra', [
    (TINY, 2, []), (TINY_EDVR, 3, []), (TINY_CASCADE, 4, []), (TINY_BSSTNET, 4, ALL_FRAMES),
    (DEMO_STACK3, 3, [])],
    ids=['basicvsr-pp', 'edvr', 'edvr-cascade', 'bsstnet', 'nafnet-stack3'])
def test_stock_train_then_test(tmp_path, synthetic_root, config, frames, extra):
    work = str(tmp_path / 'work')
    opts = data_options(synthetic_root, frames) + extra
    run_tool([sys.executable, stock('train.py'), config, '--work-dir', work, '--cfg-options',
              *opts, 'train_cfg.max_iters=2', 'train_cfg.val_interval=2'])
    # validation sent blurry | restored | sharp panels to the local visualisation backend
    panels = glob.glob(osp.join(work, '*', 'vis_data', 'vis_image', 'val_*.png'))
    assert panels, 'no validation panels written'
    panel = cv2.imread(panels[0])
    assert panel.shape[1] == 3 * 256 and panel.shape[0] == 256
    out, frames_dir = str(tmp_path / 'metrics.json'), str(tmp_path / 'restored')
    log = run_tool([sys.executable, stock('test.py'), config, osp.join(work, 'iter_2.pth'),
                    '--work-dir', work, '--out', out, '--cfg-options', *opts,
                    f'restored_frames_dir={frames_dir}'])
    metrics = json.load(open(out))
    assert 5 < metrics['PSNR'] < 60 and 0 < metrics['SSIM'] <= 1
    # per-sequence metrics next to the means; one progress line per sequence
    (sequence,) = [k.split('/', 1)[1] for k in metrics if k.startswith('PSNR/')]
    assert metrics[f'PSNR/{sequence}'] == pytest.approx(metrics['PSNR'])
    assert f'[test] 1/1 {sequence}: 4 frames in' in log and 'ETA 0:00:00' in log
    written = sorted(glob.glob(osp.join(frames_dir, sequence, '*.png')))
    assert len(written) == 4 and cv2.imread(written[0]).shape == (256, 256, 3)


@pytest.mark.slow
def test_resumed_run_equals_uninterrupted_run(tmp_path, synthetic_root):
    """4 iterations straight, against a run interrupted after 2 (as by a pre-emption) and
    resumed with the same config: equal weights, although every iteration draws random noise
    (without RandomStatesHook the resumed run draws other noise)."""
    from mmengine.config import Config
    opts = data_options(synthetic_root) + ['train_cfg.max_iters=4', 'train_cfg.val_interval=100',
                                           'default_hooks.checkpoint.interval=2',
                                           'default_hooks.checkpoint.max_keep_ckpts=3']
    def config(name, *hooks):
        # the tiny config plus test hooks; torch-random noise on the inputs in each iteration
        cfg = Config.fromfile(TINY)
        cfg.custom_imports['imports'] = [*cfg.custom_imports['imports'],
                                         'tests.test_tools.interrupt_hook']
        cfg.custom_hooks = [*cfg.custom_hooks, dict(type='NoisyInputsHook'), *hooks]
        path = str(tmp_path / name)
        cfg.dump(path)
        return path

    noisy = config('noisy.py')
    interrupted = config('interrupted.py', dict(type='InterruptTrainingHook', after_iters=2))
    env = dict(PYTHONPATH=ROOT)
    straight, resumed = str(tmp_path / 'straight'), str(tmp_path / 'resumed')
    run_tool([sys.executable, stock('train.py'), noisy, '--work-dir', straight, '--cfg-options',
              *opts], env=env)
    run_tool([sys.executable, stock('train.py'), interrupted, '--work-dir', resumed,
              '--cfg-options', *opts], env=env)
    assert osp.isfile(osp.join(resumed, 'iter_2.pth'))
    assert not osp.isfile(osp.join(resumed, 'iter_4.pth'))
    log = run_tool([sys.executable, stock('train.py'), interrupted, '--work-dir', resumed,
                    '--resume', '--cfg-options', *opts], env=env)
    assert 'resumed' in log.lower()
    a = torch.load(osp.join(straight, 'iter_4.pth'), map_location='cpu')
    b = torch.load(osp.join(resumed, 'iter_4.pth'), map_location='cpu')
    assert a['state_dict'].keys() == b['state_dict'].keys()
    diff = max((a['state_dict'][k].float() - b['state_dict'][k].float()).abs().max().item()
               for k in a['state_dict'])
    assert diff <= 1e-6, f'resumed weights differ from the uninterrupted run by {diff:.3e}'
    assert a['optimizer']['param_groups'][0]['lr'] == b['optimizer']['param_groups'][0]['lr']


@pytest.mark.slow
@pytest.mark.parametrize('config,frames,extra', [
    (TINY, 2, []), (TINY_EDVR, 3, []), (TINY_BSSTNET, 4, ALL_FRAMES)],
    ids=['basicvsr-pp', 'edvr', 'bsstnet'])
def test_stock_dist_train_gloo_with_validation(tmp_path, synthetic_root, config, frames, extra):
    work = str(tmp_path / 'ddp')
    log = run_tool(['bash', stock('dist_train.sh'), config, '2', '--work-dir', work,
                    '--cfg-options', *data_options(synthetic_root, frames), *extra,
                    'train_cfg.max_iters=2', 'train_cfg.val_interval=2'],
                   env=dict(ENV_PATH, PORT=str(free_port()), OMP_NUM_THREADS='1'))
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    assert torch.cuda.is_available() or 'using the gloo backend instead of nccl' in log
    assert 'PSNR' in log and osp.isfile(osp.join(work, 'iter_2.pth'))


def test_model_index_names_existing_configs():
    import yaml
    index = yaml.safe_load(open(osp.join(ROOT, 'model-index.yml')))
    folders = sorted(osp.dirname(p) for p in index['Import'])
    expected = sorted(osp.relpath(osp.dirname(p), ROOT)
                      for p in glob.glob(osp.join(ROOT, 'configs', '*', 'README.md')))
    assert folders == expected, 'every model folder has a metafile listed in model-index.yml'
    for path in index['Import']:
        meta = yaml.safe_load(open(osp.join(ROOT, path)))
        collections = {c['Name'] for c in meta['Collections']}
        for c in meta['Collections']:
            assert c['Paper']['URL'].startswith('https://') and osp.isfile(
                osp.join(ROOT, c['README']))
        configs = sorted(m['Config'] for m in meta['Models'])
        assert configs == sorted(osp.relpath(p, ROOT) for p in glob.glob(
            osp.join(ROOT, osp.dirname(path), '*.py'))), f'{path} lists every config'
        for m in meta['Models']:
            assert m['In Collection'] in collections
            assert m['Name'] == osp.splitext(osp.basename(m['Config']))[0]
            for r in m.get('Results', []):
                assert 'published' in m['Metadata']['Results source']
                assert all(isinstance(v, float) for v in r['Metrics'].values())


def test_every_config_has_a_demo_pipeline_without_gt():
    from mmengine.config import Config
    for path in glob.glob(osp.join(ROOT, 'configs', '*', '*.py')):
        if '_base_' in path:
            continue
        cfg = Config.fromfile(path)
        steps = cfg.get('demo_pipeline')
        assert steps, f'{path} has no demo_pipeline'
        assert [s['type'] for s in steps][:2] == ['GenerateSegmentIndices', 'LoadImageFromFile']
        assert all(s.get('key') != 'gt' for s in steps)


@pytest.mark.slow
def test_wheel_carries_configs_model_index_and_startup_hook(tmp_path):
    import zipfile
    run_tool([sys.executable, '-m', 'pip', 'wheel', '--isolated', '--no-deps',
              '--no-build-isolation', '-q', '-w', str(tmp_path), ROOT])
    (wheel,) = glob.glob(str(tmp_path / 'vdeblur_mm-*.whl'))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {'vdeblur_mm_startup.pth', 'vdeblur_mm_startup.py',
            'vdeblur_mm/.mim/model-index.yml', 'vdeblur_mm/.mim/tools/train.py',
            'vdeblur_mm/.mim/configs/_base_/default_runtime.py'} <= names
    configs = {osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.*'),
                                                       recursive=True)}
    assert {f'vdeblur_mm/.mim/{c}' for c in configs} <= names
    assert not any('__pycache__' in n for n in names)
    metafiles = glob.glob(osp.join(ROOT, 'configs', '*', 'metafile.yml'))
    assert len([n for n in names if n.endswith('/metafile.yml')]) == len(metafiles) >= 3


@pytest.mark.slow
def test_stock_tools_train_fmanet_stage1_then_stage2_then_test(tmp_path, synthetic_vsrdb_root):
    """FMA-Net's two stages through mmagic's own train.py / test.py: stage 2 starts NetD from
    the stage-1 work dir (its best checkpoint), set by config."""
    stage1 = osp.join(ROOT, 'configs', 'fmanet', 'fmanet-stage1_c18f2_1xb1-300i_synthetic.py')
    stage2 = osp.join(ROOT, 'configs', 'fmanet', 'fmanet-stage2_c18f2_1xb1-300i_synthetic.py')
    root = synthetic_vsrdb_root
    opts = [f'train_dataloader.dataset.data_root={root}/train',
            f'val_dataloader.dataset.data_root={root}/test',
            f'test_dataloader.dataset.data_root={root}/test', 'default_hooks.logger.interval=1',
            'train_cfg.max_iters=2', 'train_cfg.val_interval=2']
    work1, work2 = str(tmp_path / 'stage1'), str(tmp_path / 'stage2')
    log = run_tool([sys.executable, stock('train.py'), stage1, '--work-dir', work1,
                    '--cfg-options', *opts])
    assert 'loss_ta_d' in log and 'recon/PSNR' in log
    assert glob.glob(osp.join(work1, 'best_recon_PSNR_iter_2.pth'))
    log = run_tool([sys.executable, stock('train.py'), stage2, '--work-dir', work2,
                    '--cfg-options', *opts, f'model.init_net_d_from={work1}'])
    assert 'FMA-Net NetD initialised from' in log and 'loss_pix' in log
    out = str(tmp_path / 'metrics.json')
    run_tool([sys.executable, stock('test.py'), stage2, osp.join(work2, 'iter_2.pth'),
              '--work-dir', work2, '--out', out, '--cfg-options', *opts])
    metrics = json.load(open(out))
    assert {'PSNR', 'Y/PSNR', 'Y601/PSNR', 'SSIM', 'tOF'} <= set(metrics)
    assert 3 < metrics['PSNR'] < 60


@pytest.mark.slow
def test_stock_tools_train_vddiff_three_stages_then_test(tmp_path, synthetic_root):
    """VD-Diff's three stages in sequence through mmagic's own train.py, each starting from the
    previous stage's work dir by config (stage 2 with a fresh DM, stage 3 strictly), then the
    stage-3 model through test.py with the official clip protocol."""
    cfgs = [osp.join(ROOT, 'configs', 'vddiff', f'vddiff-{s}_c16_1xb1-300i_synthetic.py')
            for s in ('s1', 's2', 's3')]
    root = synthetic_root
    opts = [f'train_dataloader.dataset.data_root={root}/train',
            f'val_dataloader.dataset.data_root={root}/test',
            f'test_dataloader.dataset.data_root={root}/test', 'default_hooks.logger.interval=1',
            'train_cfg.max_iters=2', 'train_cfg.val_interval=2']
    works = [str(tmp_path / s) for s in ('s1', 's2', 's3')]
    log = run_tool([sys.executable, stock('train.py'), cfgs[0], '--work-dir', works[0],
                    '--cfg-options', *opts])
    assert 'loss_fft' in log and 'loss_pix' in log and 'PSNR' in log
    log = run_tool([sys.executable, stock('train.py'), cfgs[1], '--work-dir', works[1],
                    '--cfg-options', *opts, f'model.init_from={works[0]}'])
    assert "VD-Diff stage 's2' initialised from" in log and 'fresh: (\'dm\',)' in log
    assert 'loss_prior' in log and 'loss_pix' not in log
    log = run_tool([sys.executable, stock('train.py'), cfgs[2], '--work-dir', works[2],
                    '--cfg-options', *opts, f'model.init_from={works[1]}'])
    assert "VD-Diff stage 's3' initialised from" in log and 'loss_pix' in log
    out = str(tmp_path / 'metrics.json')
    run_tool([sys.executable, stock('test.py'), cfgs[2], osp.join(works[2], 'iter_2.pth'),
              '--work-dir', works[2], '--out', out, '--cfg-options', *opts])
    metrics = json.load(open(out))
    assert 3 < metrics['PSNR'] < 60 and 'SSIM' in metrics
    assert any(k.startswith('PSNR/') and k.endswith('-000') for k in metrics)  # per clip


@pytest.mark.slow
def test_stock_tools_train_and_sample_divd(tmp_path, synthetic_root):
    """The tiny DIVD trains (DDPM loss) through mmagic's own train.py, then samples whole test
    videos (4-frame clips overlapping by 2, 10 seeded DDIM steps) through test.py with PSNR,
    SSIM, LPIPS and FID/KID, whose weights come from local files (made here)."""
    import torchvision

    from ..test_evaluation.test_fid_kid import TinyInception
    alexnet, inception = str(tmp_path / 'alexnet.pth'), str(tmp_path / 'inception.pt')
    torch.save(torchvision.models.alexnet().state_dict(), alexnet)
    torch.jit.script(TinyInception()).save(inception)
    config = str(tmp_path / 'divd_with_perceptual_metrics.py')
    tiny = osp.join(ROOT, 'configs', 'divd', 'divd_c16_1xb1-300i_synthetic.py')
    with open(config, 'w') as f:
        f.write(f'_base_ = [{tiny!r}]\n'
                'test_evaluator = dict(type="Evaluator", metrics=[dict(type="VideoPSNR"), '
                'dict(type="VideoSSIM"), '
                f'dict(type="VideoLPIPS", backbone_path={alexnet!r}), '
                f'dict(type="VideoFIDKID", inception_path={inception!r}, kid_subsets=5)])\n')
    root, work = synthetic_root, str(tmp_path / 'work')
    opts = [f'train_dataloader.dataset.data_root={root}/train',
            f'val_dataloader.dataset.data_root={root}/test',
            f'test_dataloader.dataset.data_root={root}/test', 'default_hooks.logger.interval=1',
            'train_cfg.max_iters=2', 'train_cfg.val_interval=100']
    log = run_tool([sys.executable, stock('train.py'), config, '--work-dir', work,
                    '--cfg-options', *opts])
    assert 'loss_pix' in log
    out = str(tmp_path / 'metrics.json')
    run_tool([sys.executable, stock('test.py'), config, osp.join(work, 'iter_2.pth'),
              '--work-dir', work, '--out', out, '--cfg-options', *opts])
    metrics = json.load(open(out))
    assert {'PSNR', 'SSIM', 'LPIPS', 'FID', 'KID'} <= set(metrics)
    assert metrics['frames'] == 4 and metrics['FID'] >= 0 and 0 <= metrics['LPIPS']
