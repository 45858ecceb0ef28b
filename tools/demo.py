"""End-to-end demo with the shipped demo model: held-out clips -> tools/test.py -> a short
fine-tune through tools/train.py -> tools/test.py -> tools/deblur_video.py (side by side).

The model (checkpoints/demo/, trained by ``tools/train_demo_model.py``, docs/demo.md) never saw
the clips made here: another generator seed, other source images, another frame size. The
script prints the PSNR/SSIM of the blurry input and of the restored frames per clip and in
total, and exits with status 1 unless the shipped model gains at least ``--min-gain`` dB in
total and loses at most ``--max-loss`` dB on every clip.
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
DEMO_DIR = osp.join(_common.ROOT, 'checkpoints', 'demo')
CONFIG = osp.join(DEMO_DIR, 'config.py')
CHECKPOINT = osp.join(DEMO_DIR, 'nafnet-stack3_c16_demo.pth')
# held-out clips: a seed, frame size and blur range the demo model was not trained on
# (tools/train_demo_model.py: seed 0, 256x256, blur up to 16 px); a few training clips of the
# same kind feed the fine-tune
DEMO_DATA = dict(num_train=8, num_test=6, frames=12, size=(240, 320), max_blur=18.0, seed=2026)


def ensure_data(root):
    from vdeblur_mm.datasets.synthetic import GENERATOR_VERSION, synthetic_dataset_settings
    want = dict(version=GENERATOR_VERSION, num_train=DEMO_DATA['num_train'],
                num_test=DEMO_DATA['num_test'], num_frames=DEMO_DATA['frames'],
                max_blur_px=DEMO_DATA['max_blur'], seed=DEMO_DATA['seed'], variety='wide')
    have = synthetic_dataset_settings(root) or {}
    if all(have.get(k) == v for k, v in want.items()):
        return
    if osp.isdir(root):  # made by another generator version or other settings
        shutil.rmtree(root)
    run([sys.executable, osp.join(_common.ROOT, 'tools', 'generate_synthetic_data.py'), root,
         '--num-train', str(DEMO_DATA['num_train']), '--num-test', str(DEMO_DATA['num_test']),
         '--frames', str(DEMO_DATA['frames']), '--size', *map(str, DEMO_DATA['size']),
         '--max-blur', str(DEMO_DATA['max_blur']), '--seed', str(DEMO_DATA['seed'])])


def blurry_input_metrics(cfg):
    """PSNR/SSIM of the blurry input against the sharp frames, with the test evaluator's
    metrics (same per-sequence keys as tools/test.py's metrics.json)."""
    from mmagic.registry import DATASETS
    from mmengine.registry import init_default_scope

    from vdeblur_mm.evaluation import VideoPSNR, VideoSSIM
    init_default_scope('mmagic')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    metrics = [VideoPSNR(), VideoSSIM()]
    for i in range(len(dataset)):
        item = dataset[i]
        sample = dict(gt_img=item['data_samples'].gt_img.float(),
                      output=dict(pred_img=item['inputs'].float()),
                      key=item['data_samples'].metainfo.get('key'))
        for metric in metrics:
            metric.process([], [sample])
    out = {}
    for metric in metrics:
        out.update(metric.compute_metrics(metric.results))
    return out, dataset


def side_by_side_png(cfg, checkpoint, dataset, out_file, index=0):
    """blurry | restored | sharp, centre frame of one held-out clip."""
    from vdeblur_mm.inference import VideoRestorer, init_model
    model = init_model(cfg, checkpoint)
    info = dataset.get_data_info(index)
    blurry = [cv2.imread(p)[..., ::-1] for p in info['blur_frames']]
    restored = list(VideoRestorer(model)(blurry))
    t = len(blurry) // 2
    sharp = cv2.imread(info['sharp_frames'][t])[..., ::-1]
    panels = []
    for name, img in (('blurry', blurry[t]), ('restored', restored[t]), ('sharp', sharp)):
        img = np.ascontiguousarray(img[..., ::-1])
        cv2.putText(img, name, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
        panels.append(img)
    cv2.imwrite(out_file, np.concatenate(panels, axis=1))


def per_clip(metrics, name):
    return {k.split('/', 1)[1]: v for k, v in metrics.items() if k.startswith(name + '/')}


def report(blurry, restored, min_gain, max_loss):
    """Print the per-clip table; return the list of failed criteria."""
    columns = list(restored)
    psnr_b, ssim_b = per_clip(blurry, 'PSNR'), per_clip(blurry, 'SSIM')
    width = max(len(seq) for seq in [*psnr_b, 'total']) + 2
    cell = max(16, *(len(name) + 2 for name in columns))  # "PSNR (gain)" per model
    print(f'\n{"clip":<{width}}{"blurry PSNR":>12}{"SSIM":>8}'
          + ''.join(f'{name:>{cell}}' for name in columns))

    def cells(values):
        return ''.join(f'{f"{p:.2f} ({p - b:+.2f})":>{cell}}' for p, b in values)

    for seq in sorted(psnr_b):
        print(f'{seq:<{width}}{psnr_b[seq]:>10.2f}dB{ssim_b[seq]:>8.4f}' + cells(
            (per_clip(restored[name], 'PSNR')[seq], psnr_b[seq]) for name in columns))
    print(f'{"total":<{width}}{blurry["PSNR"]:>10.2f}dB{blurry["SSIM"]:>8.4f}' + cells(
        (restored[name]['PSNR'], blurry['PSNR']) for name in columns))
    print(f'{"SSIM":<{width + 20}}' + ''.join(f'{restored[name]["SSIM"]:>{cell}.4f}'
                                             for name in columns))
    shipped = restored[columns[0]]
    failed = []
    gain = shipped['PSNR'] - blurry['PSNR']
    if gain < min_gain:
        failed.append(f'total gain {gain:+.2f} dB is below {min_gain:+.2f} dB')
    for seq, p in per_clip(shipped, 'PSNR').items():
        if p - psnr_b[seq] < -max_loss:
            failed.append(f'clip {seq}: {p - psnr_b[seq]:+.2f} dB, worse than -{max_loss} dB')
    return failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data', default='data/demo_synthetic')
    parser.add_argument('--checkpoint', default=CHECKPOINT, help='the demo model')
    parser.add_argument('--config', default=CONFIG,
                        help="the demo model's config (make demo's data and fine-tune schedule)")
    parser.add_argument('--iters', type=int, default=100, help='fine-tuning iterations (0: none)')
    parser.add_argument('--min-gain', type=float, default=1.0,
                        help='total PSNR gain (dB) the shipped model must reach')
    parser.add_argument('--max-loss', type=float, default=0.1,
                        help='largest PSNR loss (dB) allowed on any clip')
    args = parser.parse_args(argv)
    start = time.time()
    py = sys.executable
    tools = osp.join(_common.ROOT, 'tools')
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'error: demo checkpoint {args.checkpoint} does not exist (it ships '
                         'with the repository; tools/train_demo_model.py makes it)')
    if not osp.isfile(args.config):
        raise SystemExit(f'error: demo config {args.config} does not exist')
    config = args.config
    ensure_data(args.data)
    data_opts = [f'train_dataloader.dataset.data_root={args.data}/train',
                 f'val_dataloader.dataset.data_root={args.data}/test',
                 f'test_dataloader.dataset.data_root={args.data}/test']
    results = osp.join(args.work_dir, 'results')
    os.makedirs(results, exist_ok=True)

    def test(checkpoint, name):
        out = osp.join(results, f'metrics_{name}.json')
        run([py, osp.join(tools, 'test.py'), config, checkpoint, '--work-dir', args.work_dir,
             '--out', out, '--cfg-options', *data_opts])
        with open(out) as f:
            return json.load(f)

    restored = {'shipped': test(args.checkpoint, 'shipped')}
    if args.iters > 0:
        n = args.iters
        run([py, osp.join(tools, 'train.py'), config, '--work-dir', args.work_dir,
             '--cfg-options', *data_opts, f'load_from={args.checkpoint}',
             f'train_cfg.max_iters={n}', f'train_cfg.val_interval={n}',
             f'default_hooks.checkpoint.interval={n}'])
        restored[f'fine-tuned {n}'] = test(osp.join(args.work_dir, f'iter_{n}.pth'), 'fine_tuned')

    cfg = _common.load_config(config, dict(a.split('=', 1) for a in data_opts))
    blurry, dataset = blurry_input_metrics(cfg)
    with open(osp.join(results, 'metrics_blurry_input.json'), 'w') as f:
        json.dump(blurry, f, indent=2)
    clip = dataset.get_data_info(0)
    seq = osp.basename(osp.dirname(osp.dirname(clip['blur_frames'][0])))
    video = osp.join(results, f'{seq}_side_by_side.mp4')
    run([py, osp.join(tools, 'deblur_video.py'), config, args.checkpoint,
         osp.dirname(clip['blur_frames'][0]), video, '--side-by-side', '--fps', '6'])
    side_by_side_png(cfg, args.checkpoint, dataset, osp.join(results, 'side_by_side.png'))

    failed = report(blurry, restored, args.min_gain, args.max_loss)
    print(f'\nresults in {results} (metrics_*.json, side_by_side.png, {osp.basename(video)}); '
          f'{time.time() - start:.0f} s in all')
    if failed:
        print('the shipped demo model missed: ' + '; '.join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
