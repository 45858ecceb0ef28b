"""Validate a video-deblurring dataset folder and write its annotation file.

Example:
    python tools/prepare_dataset.py data/GOPRO_Large/train --layout gopro \
        --out data/GOPRO_Large/meta_info_GoPro_train.txt
Exits with status 1 and one line per problem (missing folder, blurry/sharp frame-count or
name mismatch, corrupt frame, size mismatch) when the folder is not usable.

GoPro x4 (joint x4 super-resolution + deblurring, layout 'gopro_x4'): ``--downsample 4`` also
writes every sequence's blurry and sharp frames bicubic-downsampled x4 beside the originals,
``<blur folder>_x4`` and ``<sharp folder>_x4`` (for GoPro: ``<seq>/blur_x4``, ``<seq>/sharp_x4``):
    python tools/prepare_dataset.py data/GOPRO_Large/test --layout gopro --downsample 4
By default with MATLAB's bicubic imresize (mmagic's MATLABLikeResize, anti-aliased, as REDS'
X4 frames); ``--resize-method cv2`` uses cv2.INTER_CUBIC (faster, aliased).
"""
import argparse
import os.path as osp
import sys

import _common  # noqa: F401  (puts the clone on sys.path, applies the compat fixes)

# isort: split
from vdeblur_mm.datasets import DATASET_LAYOUTS, validate_dataset, write_annotation
from vdeblur_mm.datasets.downsample import DOWNSAMPLE_METHODS, downsample_folder
from vdeblur_mm.datasets.layouts import resolve_layout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('data_root', help='dataset root, e.g. data/GOPRO_Large/train')
    parser.add_argument('--layout', default='gopro', choices=sorted(DATASET_LAYOUTS))
    parser.add_argument('--sequences', nargs='+', help='only these sequences')
    parser.add_argument('--out', help='annotation file to write (<sequence> <num_frames>)')
    parser.add_argument('--no-image-check', action='store_true',
                        help='skip decoding every frame (faster; counts and names are checked)')
    parser.add_argument('--scale', type=int, default=1,
                        help='sharp frames are SCALE times the blurry ones (4 for the x4 '
                        'layouts reds_vsrdb, gopro_x4)')
    parser.add_argument('--downsample', type=int, metavar='S',
                        help='also write the blurry and sharp frames downsampled xS to '
                        '<folder>_xS beside them (GoPro x4: --layout gopro --downsample 4)')
    parser.add_argument('--resize-method', default='matlab', choices=DOWNSAMPLE_METHODS,
                        help='bicubic downsampling: MATLAB-like (anti-aliased, default) or '
                        'cv2.INTER_CUBIC')
    args = parser.parse_args(argv)

    valid, errors = validate_dataset(args.data_root, args.layout, args.sequences,
                                     check_images=not args.no_image_check, scale=args.scale)
    for message in errors:
        print(f'error: {message}', file=sys.stderr)
    total = sum(n for _, n in valid)
    print(f'{len(valid)} valid sequences, {total} frame pairs, {len(errors)} problems '
          f'in {args.data_root}')
    if errors:
        return 1
    if args.out:
        write_annotation(valid, args.out)
        print(f'wrote {args.out}')
    if args.downsample:
        written = 0
        for seq, _ in valid:
            for tmpl in resolve_layout(args.layout):
                src = osp.join(args.data_root, tmpl.format(seq=seq))
                written += downsample_folder(src, f'{src}_x{args.downsample}', args.downsample,
                                             args.resize_method)
        print(f'wrote {written} frames downsampled x{args.downsample} ({args.resize_method})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
