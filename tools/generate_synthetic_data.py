"""Write a synthetic GoPro-layout blurry-video dataset made from scikit-image's sample images.

Example:
    python tools/generate_synthetic_data.py data/synthetic --num-train 8 --num-test 3
For x4 super-resolution + deblurring (FMA-Net), ``--lr-scale 4`` also writes every sequence's
blurry and sharp frames downsampled x4 (``<seq>/blur_x4``, ``<seq>/sharp_x4``: layout
'gopro_x4'); then compute the pseudo-flows:
    python tools/generate_synthetic_data.py data/synthetic_vsrdb --size 256 256 --lr-scale 4
    python tools/generate_pseudo_flows.py data/synthetic_vsrdb/train --layout gopro_x4 \
        --estimator dis
"""
import argparse
import time

import _common  # noqa: F401  (puts the clone on sys.path, applies the compat fixes)

# isort: split
from vdeblur_mm.datasets import generate_synthetic_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_root', help='output folder (gets train/ and test/)')
    parser.add_argument('--num-train', type=int, default=8, help='training clips')
    parser.add_argument('--num-test', type=int, default=3, help='held-out test clips')
    parser.add_argument('--frames', type=int, default=12, help='frames per clip')
    parser.add_argument('--size', type=int, nargs=2, default=[256, 256], metavar=('H', 'W'))
    parser.add_argument('--subframes', type=int, default=9,
                        help='high-frame-rate sub-frames averaged into each blurry frame')
    parser.add_argument('--max-blur', type=float, default=14.0,
                        help='longest blur trail within one frame, in pixels')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--variety', default='wide', choices=['wide', 'camera'],
                        help="wide: per-clip blur from none to --max-blur, moving objects, "
                        "exposure, noise; camera: camera motion over a still scene only")
    parser.add_argument('--lr-scale', type=int,
                        help='also write the frames downsampled by this factor (4: FMA-Net)')
    parser.add_argument('--lr-method', default='matlab', choices=['matlab', 'cv2'],
                        help='bicubic downsampling: MATLAB-like (default) or cv2.INTER_CUBIC')
    args = parser.parse_args(argv)
    start = time.time()
    written = generate_synthetic_dataset(
        args.out_root, args.num_train, args.num_test, args.frames, tuple(args.size),
        args.subframes, args.max_blur, args.seed, args.lr_scale, args.lr_method,
        args.variety)
    print(f"wrote {len(written['train'])} train and {len(written['test'])} test clips of "
          f'{args.frames} frames to {args.out_root} in {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
