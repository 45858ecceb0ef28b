"""End-to-end demo: synthetic data -> tools/train.py -> tools/test.py -> results folder.

Trains the tiny BasicVSR++ deblurring config on synthetic GoPro-style clips for a few CPU
minutes, evaluates it on held-out clips through the stock test tool, and prints the held-out
PSNR of the blurry input and of the restored output.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
import time

import _common  # noqa: F401  (puts the clone on sys.path, applies the compat fixes)

# isort: split
import cv2
import numpy as np

run = _common.run_command
CONFIG = osp.join(_common.ROOT, 'configs', 'basicvsr_pp_deblur',
                  'basicvsr-pp_c16n1_1xb1-300i_synthetic.py')


def blurry_input_psnr(cfg):
    """PSNR of the blurry input against the sharp frames, with the test evaluator's metric."""
    from mmagic.registry import DATASETS
    from mmengine.registry import init_default_scope

    from vdeblur_mm.evaluation import VideoPSNR
    init_default_scope('mmagic')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    metric = VideoPSNR()
    for i in range(len(dataset)):
        item = dataset[i]
        inputs = item['inputs'].float()
        gt = item['data_samples'].gt_img.float()
        metric.process([], [dict(gt_img=gt, output=dict(pred_img=inputs))])
    return float(np.mean([r['PSNR'] for r in metric.results])), dataset


def side_by_side(cfg, checkpoint, dataset, out_file):
    """blurry | restored | sharp, centre frame of the first held-out clip."""
    from vdeblur_mm.inference import VideoRestorer, init_model
    model = init_model(cfg, checkpoint)
    info = dataset.get_data_info(0)
    read = [cv2.imread(p)[..., ::-1] for p in info['blur_frames']]
    restored = list(VideoRestorer(model, chunk_frames=len(read), overlap=0)(read))
    t = len(read) // 2
    sharp = cv2.imread(info['sharp_frames'][t])[..., ::-1]
    panels = []
    for name, img in (('blurry', read[t]), ('restored', restored[t]), ('sharp', sharp)):
        img = np.ascontiguousarray(img[..., ::-1])
        cv2.putText(img, name, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
        panels.append(img)
    cv2.imwrite(out_file, np.concatenate(panels, axis=1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data', default='data/demo_synthetic')
    parser.add_argument('--iters', type=int, default=300, help='training iterations')
    parser.add_argument('--num-train', type=int, default=24)
    parser.add_argument('--num-test', type=int, default=3)
    parser.add_argument('--init', help='start training from this checkpoint (load_from), e.g. '
                        'one from an earlier, longer run of this demo')
    args = parser.parse_args(argv)
    start = time.time()
    py = sys.executable
    tools = osp.join(_common.ROOT, 'tools')
    from vdeblur_mm.datasets.synthetic import GENERATOR_VERSION, synthetic_dataset_settings
    settings = synthetic_dataset_settings(args.data) or {}
    if (settings.get('version'), settings.get('num_train'), settings.get('num_test')) != \
            (GENERATOR_VERSION, args.num_train, args.num_test):
        if osp.isdir(args.data):  # made by another generator version or other settings
            shutil.rmtree(args.data)
        run([py, osp.join(tools, 'generate_synthetic_data.py'), args.data, '--num-train',
             str(args.num_train), '--num-test', str(args.num_test)])
    data_opts = [f'train_dataloader.dataset.data_root={args.data}/train',
                 f'val_dataloader.dataset.data_root={args.data}/test',
                 f'test_dataloader.dataset.data_root={args.data}/test']
    n = args.iters
    init = [f'load_from={args.init}'] if args.init else []
    if args.init and not osp.isfile(args.init):
        raise SystemExit(f'error: checkpoint {args.init} does not exist')
    run([py, osp.join(tools, 'train.py'), CONFIG, '--work-dir', args.work_dir, '--cfg-options',
         *data_opts, *init, f'train_cfg.max_iters={n}', f'train_cfg.val_interval={n}',
         f'param_scheduler.periods=[{n}]', f'default_hooks.checkpoint.interval={n}'])
    checkpoint = osp.join(args.work_dir, f'iter_{n}.pth')
    results = osp.join(args.work_dir, 'results')
    os.makedirs(results, exist_ok=True)
    metrics_file = osp.join(results, 'metrics.json')
    run([py, osp.join(tools, 'test.py'), CONFIG, checkpoint, '--work-dir', args.work_dir,
         '--out', metrics_file, '--cfg-options', *data_opts])

    from mmengine.config import Config
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(dict(a.split('=', 1) for a in data_opts))
    blurry, dataset = blurry_input_psnr(cfg)
    with open(metrics_file) as f:
        metrics = json.load(f)
    restored = metrics['PSNR']
    metrics['blurry_input_PSNR'] = blurry
    with open(metrics_file, 'w') as f:
        json.dump(metrics, f, indent=2)
    side_by_side(cfg, checkpoint, dataset, osp.join(results, 'side_by_side.png'))

    print(f'\nresults in {results} (metrics.json, side_by_side.png); '
          f'{time.time() - start:.0f} s in all')
    print(f'held-out PSNR, blurry input: {blurry:.2f} dB')
    print(f'held-out PSNR, restored:     {restored:.2f} dB ({restored - blurry:+.2f} dB)')
    if restored <= blurry:
        print('the restored output is not better than the blurry input (see docs/demo.md)',
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
