"""Checking a dataset folder and writing its annotation file."""
import os.path as osp

import cv2

from .layouts import discover_sequences, resolve_layout
from .video_deblur_dataset import DatasetError, scan_sequence


def validate_dataset(data_root, layout='gopro', sequences=None, check_images=True, scale=1):
    """Check every sequence of a dataset folder.

    Args:
        data_root (str): Dataset root.
        layout (str | dict): Dataset layout (see ``DATASET_LAYOUTS``).
        sequences (list[str], optional): Only these sequences.
        check_images (bool): Also decode every frame and compare blurry/sharp frame sizes.
        scale (int): Sharp frames are ``scale`` times the blurry ones (4 for the x4 VSRDB
            layouts such as 'reds_vsrdb', 'gopro_x4'). Default: 1.

    Returns:
        tuple(list[tuple[str, int]], list[str]): ``(sequence, num_frames)`` of the valid
        sequences, and one message per problem found (naming the file or folder).
    """
    if not osp.isdir(data_root):
        return [], [f'dataset folder {data_root} does not exist']
    names = list(sequences) if sequences else discover_sequences(data_root, layout)
    if not names:
        blur_tmpl, sharp_tmpl = resolve_layout(layout)
        return [], [f'no sequence under {data_root} has both {blur_tmpl} and {sharp_tmpl} '
                    f'folders (layout {layout!r})']
    valid, errors = [], []
    for seq in names:
        try:
            blur, sharp = scan_sequence(data_root, layout, seq)
        except DatasetError as exc:
            errors.append(str(exc))
            continue
        seq_errors = []
        if check_images:
            for b, s in zip(blur, sharp):
                shapes = []
                for path in (b, s):
                    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
                    if img is None:
                        seq_errors.append(f'frame {path} could not be decoded '
                                          '(corrupt or not an image)')
                    shapes.append(None if img is None else img.shape[:2])
                if None not in shapes and (shapes[0][0] * scale,
                                           shapes[0][1] * scale) != shapes[1]:
                    times = f' (expected {scale}x)' if scale != 1 else ''
                    seq_errors.append(f'frame size mismatch: {b} is {shapes[0][1]}x{shapes[0][0]}'
                                      f', {s} is {shapes[1][1]}x{shapes[1][0]}{times}')
        errors.extend(seq_errors)
        if not seq_errors:
            valid.append((seq, len(blur)))
    return valid, errors


def write_annotation(entries, ann_file):
    """Write ``<sequence> <num_frames>`` lines (the format ``VideoDeblurDataset`` reads)."""
    with open(ann_file, 'w') as f:
        for seq, num in entries:
            f.write(f'{seq} {num}\n')
