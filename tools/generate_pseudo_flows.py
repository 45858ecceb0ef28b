"""Precompute FMA-Net's pseudo-GT optical flows from the LR sharp frames of a dataset.

For every frame t with both neighbours, the flows t → t-1 and t → t+1 of the low-resolution
sharp frames (the layout's 'sharp_lr' folder) are written to the layout's 'flow' folder as
``<stem t>_<stem t±1>.npy``, (h, w, 2) float32, channel 0 horizontal, in LR pixels — as
FMA-Net's preprocessing/generate_flow.py (dist 1, T = 3), read by ``LoadPseudoFlows``.

Examples:
    # REDS, as FMA-Net (RAFT-large with the official raft-sintel.pth, on a GPU)
    python tools/generate_pseudo_flows.py data/REDS --layout reds_vsrdb \
        --checkpoint checkpoints/raft-sintel.pth --device cuda
    python tools/generate_pseudo_flows.py data/REDS --layout reds_val_vsrdb \
        --checkpoint checkpoints/raft-sintel.pth --device cuda
    # synthetic data on a CPU: OpenCV's DIS, no weights
    python tools/generate_pseudo_flows.py data/synthetic_vsrdb/train --layout gopro_x4 \
        --estimator dis
Nothing is downloaded: RAFT reads a local --checkpoint (official princeton-vl layout for
RAFT-large, or a torchvision raft_large/raft_small state dict).
"""
import argparse
import sys
import time

import _common  # noqa: F401  (puts the clone on sys.path, applies the compat fixes)

# isort: split
from vdeblur_mm.datasets import DATASET_LAYOUTS, DatasetError
from vdeblur_mm.datasets.pseudo_flows import (
    FLOW_ESTIMATORS,
    build_flow_estimator,
    generate_pseudo_flows,
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('data_root', help='dataset root, e.g. data/REDS')
    parser.add_argument('--layout', default='reds_vsrdb',
                        choices=sorted(k for k, v in DATASET_LAYOUTS.items()
                                       if isinstance(v, dict) and 'flow' in v))
    parser.add_argument('--sequences', nargs='+', help='only these sequences')
    parser.add_argument('--estimator', default='raft', choices=FLOW_ESTIMATORS)
    parser.add_argument('--checkpoint', help='local RAFT weights (required for raft)')
    parser.add_argument('--raft-variant', default='large', choices=['large', 'small'])
    parser.add_argument('--num-flow-updates', type=int, default=20, help='RAFT iterations')
    parser.add_argument('--dis-preset', default='medium', choices=['ultrafast', 'fast', 'medium'])
    parser.add_argument('--channel-order', default='rgb', choices=['rgb', 'bgr'],
                        help="frame order fed to the estimator; 'bgr' is what the official "
                        'script does (cv2 frames, unconverted)')
    parser.add_argument('--device', default='cpu', help='torch device, e.g. cuda')
    parser.add_argument('--overwrite', action='store_true', help='recompute existing files')
    args = parser.parse_args(argv)
    start = time.time()
    try:
        estimator = build_flow_estimator(args.estimator, args.checkpoint, args.raft_variant,
                                         args.num_flow_updates, args.dis_preset, args.device)
        written = generate_pseudo_flows(args.data_root, args.layout, estimator,
                                        args.sequences, overwrite=args.overwrite,
                                        channel_order=args.channel_order, device=args.device,
                                        log=print)
    except (FileNotFoundError, DatasetError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'wrote {sum(written.values())} flow files for {len(written)} sequences in '
          f'{time.time() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
