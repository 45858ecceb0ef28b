"""Our tools drive training, testing, resuming and 2-process (gloo) DDP through the Runner."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'configs', 'basicvsr_pp_deblur', 'basicvsr-pp_c16n1_1xb1-300i_synthetic.py')
TINY_EDVR = osp.join(ROOT, 'configs', 'edvr_deblur', 'edvr-deblur_c16b1_1xb1-300i_synthetic.py')
TINY_CASCADE = osp.join(ROOT, 'configs', 'edvr_deblur',
                        'edvr-deblur-stage2_c16b1_1xb1-300i_synthetic.py')
TINY_BSSTNET = osp.join(ROOT, 'configs', 'bsstnet', 'bsstnet_c24_1xb1-300i_synthetic.py')
# the fixture's clips have 4 frames: score them all (the config skips 2 at each end)
ALL_FRAMES = [f'{loop}_evaluator.metrics.{i}.exclude_frames=0'
              for loop in ('val', 'test') for i in (0, 1)]


def data_options(root, frames=2):
    return [f'train_dataloader.dataset.data_root={root}/train',
            f'val_dataloader.dataset.data_root={root}/test',
            f'test_dataloader.dataset.data_root={root}/test',
            f'train_dataloader.dataset.num_input_frames={frames}',
            'default_hooks.logger.interval=1']


def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_tool(args, env=None, timeout=600):
    env = dict(os.environ, **(env or {}))
    env.setdefault('OMP_NUM_THREADS', '2')
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_train_test_and_resume(tmp_path, synthetic_root):
    work = str(tmp_path / 'work')
    opts = data_options(synthetic_root)
    run_tool([sys.executable, 'tools/train.py', TINY, '--work-dir', work, '--cfg-options', *opts,
              'train_cfg.max_iters=2', 'train_cfg.val_interval=2'])
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)
    out = str(tmp_path / 'metrics.json')
    run_tool([sys.executable, 'tools/test.py', TINY, ckpt, '--work-dir', work, '--out', out,
              '--cfg-options', *opts])
    metrics = json.load(open(out))
    assert set(metrics) >= {'PSNR', 'SSIM'} and 5 < metrics['PSNR'] < 60
    # resuming restores the message hub and optimizer (mmengine checkpoints under torch>=2.6)
    log = run_tool([sys.executable, 'tools/train.py', TINY, '--work-dir', work, '--resume',
                    '--cfg-options', *opts, 'train_cfg.max_iters=3', 'train_cfg.val_interval=3'])
    assert 'resumed' in log.lower() and osp.isfile(osp.join(work, 'iter_3.pth'))
    state = torch.load(osp.join(work, 'iter_3.pth'), map_location='cpu')
    assert state['meta']['iter'] == 3


@pytest.mark.slow
def test_distributed_training_with_gloo(tmp_path, synthetic_root):
    work = str(tmp_path / 'ddp')
    log = run_tool(['bash', 'tools/dist_train.sh', TINY, '2', '--work-dir', work,
                    '--cfg-options', *data_options(synthetic_root), 'train_cfg.max_iters=2',
                    'train_cfg.val_interval=2'],
                   env=dict(PYTHON=sys.executable, PORT=str(free_port()), OMP_NUM_THREADS='1'))
    # mmengine's environment report: launcher, DDP on, 2 processes, gloo on CPU
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    assert 'GPU number: 2' in log
    assert torch.cuda.is_available() or 'using the gloo backend instead of nccl' in log
    assert 'PSNR' in log and osp.isfile(osp.join(work, 'iter_2.pth'))


def test_missing_checkpoint_and_config_errors(tmp_path):
    proc = subprocess.run([sys.executable, 'tools/test.py', TINY, str(tmp_path / 'nope.pth')],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and 'nope.pth does not exist' in proc.stderr
    proc = subprocess.run([sys.executable, 'tools/train.py', str(tmp_path / 'nope.py')],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and 'nope.py does not exist' in proc.stderr
