"""Train the demo model for checkpoints/demo/ (issue 13; measurements in docs/demo.md).

The shipped three-frame model (docs/demo.md has the one-frame model's own commands):

    python tools/train_demo_model.py --iters 6000 --lr 3e-4 --work-dir work_dirs/demo_stack3 \
        --inflate-from checkpoints/demo/nafnet-frames_c16_demo.pth

1. writes the training clips (the generator's wide variety, seed 0) and a few held-out clips
   (held-out images, seed 1) under --data, unless they are there already;
2. trains --config (default configs/nafnet_frames/nafnet-stack3_c16_1xb8-demo_synthetic.py) through
   mmagic's stock ``tools/train.py`` (``--resume`` continues an interrupted run from its last
   checkpoint; ``--load-from`` starts from weights of the same model, ``--inflate-from`` from a
   one-frame model's weights spread over the frame stack);
3. exports the last checkpoint's weights (fp16, no optimiser state: a few MB) to --out,
   (default ``checkpoints/demo/``).
"""
import argparse
import os
import os.path as osp
import sys
import time

import _common  # noqa: F401  (puts the clone on sys.path, applies the compat fixes)

run = _common.run_command
CONFIG = osp.join(_common.ROOT, 'configs', 'nafnet_frames',
                  'nafnet-stack3_c16_1xb8-demo_synthetic.py')
OUT = osp.join(_common.ROOT, 'checkpoints', 'demo', 'nafnet-stack3_c16_demo.pth')
# the training data: the generator's defaults except for the number of clips
TRAIN_DATA = dict(num_train=160, num_test=6, frames=12, size=(256, 256), max_blur=16.0)


def ensure_data(root, seed):
    """Write the training clips unless ``root`` already holds exactly these."""
    from vdeblur_mm.datasets.synthetic import GENERATOR_VERSION, synthetic_dataset_settings
    want = dict(version=GENERATOR_VERSION, num_train=TRAIN_DATA['num_train'],
                num_test=TRAIN_DATA['num_test'], num_frames=TRAIN_DATA['frames'],
                max_blur_px=TRAIN_DATA['max_blur'], seed=seed, variety='wide')
    have = synthetic_dataset_settings(root) or {}
    if all(have.get(k) == v for k, v in want.items()):
        return
    if osp.isdir(root):
        raise SystemExit(f'error: {root} holds other data ({have}); remove it or pass --data')
    run([sys.executable, osp.join(_common.ROOT, 'tools', 'generate_synthetic_data.py'), root,
         '--num-train', str(TRAIN_DATA['num_train']), '--num-test', str(TRAIN_DATA['num_test']),
         '--frames', str(TRAIN_DATA['frames']), '--size', *map(str, TRAIN_DATA['size']),
         '--max-blur', str(TRAIN_DATA['max_blur']), '--seed', str(seed)])


def inflate_checkpoint(config, single_frame_ckpt, out):
    """Write the weights of a one-frame model (``single_frame_ckpt``) spread over the frame
    stack of ``config``'s FrameStackNet (``inflate_single_frame_state``) to ``out``."""
    import torch

    from vdeblur_mm.inference import init_model
    if not osp.isfile(single_frame_ckpt):
        raise SystemExit(f'error: --inflate-from {single_frame_ckpt}: no such checkpoint')
    model = init_model(config)
    if not hasattr(model.generator, 'inflate_single_frame_state'):
        raise SystemExit(f'error: --inflate-from needs a FrameStackNet config, {config} builds '
                         f'{type(model.generator).__name__}')
    state = torch.load(single_frame_ckpt, map_location='cpu', weights_only=False)['state_dict']
    state = model.generator.inflate_single_frame_state(
        {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()})
    model.load_state_dict(state)  # strict: every key of the stacked model
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save(dict(meta=dict(inflated_from=single_frame_ckpt), state_dict=state), out)
    return out


def export_weights(checkpoint, out, iters, options='', config=CONFIG):
    """Keep the model's weights only, in fp16 (``load_state_dict`` casts them back)."""
    import torch
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=False)
    state = {k: (v.half() if v.is_floating_point() else v)
             for k, v in ckpt['state_dict'].items()}
    meta = dict(config=osp.relpath(config, _common.ROOT), iters=iters,
                command=f'python tools/train_demo_model.py {options}'.strip(),
                generator_data=TRAIN_DATA, dtype='float16')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save(dict(meta=meta, state_dict=state), out)
    print(f'wrote {out} ({osp.getsize(out) / 2**20:.1f} MiB)')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=CONFIG, help='training config of the demo model')
    parser.add_argument('--iters', type=int, default=1800)
    parser.add_argument('--work-dir', default='work_dirs/demo_model')
    parser.add_argument('--data', default='data/demo_model_synthetic')
    parser.add_argument('--seed', type=int, default=0, help='seed of the training clips')
    parser.add_argument('--resume', action='store_true',
                        help="continue from the work dir's last checkpoint")
    parser.add_argument('--out', default=OUT, help='where the exported weights go')
    parser.add_argument('--load-from', default=None,
                        help='start from these weights (e.g. the shipped checkpoint)')
    parser.add_argument('--inflate-from', default=None,
                        help="start from a one-frame model's weights spread over the frame "
                             'stack (FrameStackNet configs)')
    parser.add_argument('--checkpoint-interval', type=int, default=None,
                        help='save (and keep) a checkpoint every this many iterations')
    parser.add_argument('--lr', type=float, default=None, help='peak learning rate')
    parser.add_argument('--crop', type=int, default=None, help='training crop size (px)')
    parser.add_argument('--max-psnr', type=float, default=None,
                        help="SaturatedPSNRLoss's saturation (dB)")
    args = parser.parse_args(argv)
    start = time.time()
    ensure_data(args.data, args.seed)
    n = args.iters
    extra = []
    if args.load_from and args.inflate_from:
        raise SystemExit('error: give --load-from or --inflate-from, not both')
    if args.load_from:
        extra.append(f'load_from={args.load_from}')
    if args.inflate_from:
        start_ckpt = inflate_checkpoint(args.config, args.inflate_from,
                                        osp.join(args.work_dir, 'inflated_start.pth'))
        extra.append(f'load_from={start_ckpt}')
    if args.checkpoint_interval:
        extra += [f'default_hooks.checkpoint.interval={args.checkpoint_interval}',
                  'default_hooks.checkpoint.max_keep_ckpts=100']
    if args.lr is not None:
        extra.append(f'optim_wrapper.optimizer.lr={args.lr}')
    if args.crop is not None:
        extra.append(f'train_dataloader.dataset.pipeline.4.gt_patch_size={args.crop}')
    if args.max_psnr is not None:
        extra.append(f'model.pixel_loss.max_psnr={args.max_psnr}')
    run([sys.executable, osp.join(_common.ROOT, 'tools', 'train.py'), args.config, '--work-dir',
         args.work_dir, *(['--resume'] if args.resume else []), '--cfg-options',
         f'train_dataloader.dataset.data_root={args.data}/train',
         f'val_dataloader.dataset.data_root={args.data}/test',
         f'test_dataloader.dataset.data_root={args.data}/test',
         f'train_cfg.max_iters={n}', f'train_cfg.val_interval={n}',
         f'param_scheduler.periods=[{n}]', *extra])
    export_weights(osp.join(args.work_dir, f'iter_{n}.pth'), args.out, n,
                   ' '.join(sys.argv[1:] if argv is None else argv), args.config)
    print(f'{time.time() - start:.0f} s in all')


if __name__ == '__main__':
    main()
