"""Test a checkpoint with mmengine's Runner (same arguments as mmagic's tools/test.py)."""
import argparse
import os
import os.path as osp

import _common  # noqa: F401  (puts the clone on sys.path, applies the compat fixes)

# isort: split
import mmengine
from mmengine.config import DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner


def parse_args():
    parser = argparse.ArgumentParser(description='Test a vdeblur_mm / mmagic model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='write the metrics (means and per sequence) to this file '
                        '(json/yaml/pkl)')
    parser.add_argument('--save-frames', metavar='DIR',
                        help='write every restored frame as PNG to DIR/<sequence>/')
    parser.add_argument('--dump',
                        help='also write every restored clip (uint8 frames) to this pickle file')
    parser.add_argument('--work-dir', help='the directory to save logs and results')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


class SaveMetricsHook(Hook):
    """Dump the test metrics to a file."""

    def __init__(self, out_file):
        self.out_file = out_file

    def after_test_epoch(self, runner, metrics=None):
        if metrics is not None:
            mmengine.dump(metrics, self.out_file)


def add_dump_metric(cfg, path):
    """Append DumpPredictions (restored frames to a pickle) to the test evaluator."""
    dump = dict(type='DumpPredictions', out_file_path=path)
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, (list, tuple)):
        cfg.test_evaluator = [*evaluator, dump]
    elif 'metrics' in evaluator:
        metrics = evaluator['metrics']
        evaluator['metrics'] = [*(metrics if isinstance(metrics, (list, tuple)) else [metrics]),
                                dump]
    else:
        cfg.test_evaluator = [evaluator, dump]


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'error: checkpoint {args.checkpoint} does not exist')
    cfg = _common.load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    _common.set_work_dir(cfg, args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    if args.dump:
        add_dump_metric(cfg, args.dump)
    if args.save_frames:
        cfg.restored_frames_dir = args.save_frames
        hooks = list(cfg.get('custom_hooks', None) or [])
        if not any(h.get('type') == 'SaveRestoredFramesHook' for h in hooks):
            cfg.custom_hooks = hooks + [dict(type='SaveRestoredFramesHook')]

    runner = Runner.from_cfg(cfg)
    if args.out:
        runner.register_hook(SaveMetricsHook(args.out), 'LOWEST')
    runner.test()


if __name__ == '__main__':
    main()
