"""Validate a video-deblurring dataset folder and write its annotation file.

Example:
    python tools/prepare_dataset.py data/GOPRO_Large/train --layout gopro \
        --out data/GOPRO_Large/meta_info_GoPro_train.txt
Exits with status 1 and one line per problem (missing folder, blurry/sharp frame-count or
name mismatch, corrupt frame, size mismatch) when the folder is not usable.
"""
import argparse
import sys

import _common  # noqa: F401  (puts the clone on sys.path, applies the compat fixes)

# isort: split
from vdeblur_mm.datasets import DATASET_LAYOUTS, validate_dataset, write_annotation


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('data_root', help='dataset root, e.g. data/GOPRO_Large/train')
    parser.add_argument('--layout', default='gopro', choices=sorted(DATASET_LAYOUTS))
    parser.add_argument('--sequences', nargs='+', help='only these sequences')
    parser.add_argument('--out', help='annotation file to write (<sequence> <num_frames>)')
    parser.add_argument('--no-image-check', action='store_true',
                        help='skip decoding every frame (faster; counts and names are checked)')
    args = parser.parse_args(argv)

    valid, errors = validate_dataset(args.data_root, args.layout, args.sequences,
                                     check_images=not args.no_image_check)
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
    return 0


if __name__ == '__main__':
    sys.exit(main())
