"""Deblur a video file (or a folder of frames) with any registered video model.

Example:
    python tools/deblur_video.py configs/basicvsr_pp_deblur/<config>.py model.pth in.mp4 out.mp4
Frames are processed in overlapping temporal chunks (and optional spatial tiles), so memory does
not grow with the video's length or resolution.
"""
import argparse
import sys
import time

import _common  # noqa: F401  (puts the clone on sys.path, applies the compat fixes)

# isort: split
import torch
from mmengine.config import DictAction

from vdeblur_mm.inference import VideoReadError, deblur_video, init_model
from vdeblur_mm.utils import limit_heap_retention


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('input', help='video file (mp4, avi, ...) or folder of frames')
    parser.add_argument('output', help='video file (by extension) or folder for PNG frames')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    # None: the model's own setting (its defaults and its config's test_cfg), so that the
    # frames equal tools/test.py's
    parser.add_argument('--chunk', type=int, default=None, help='frames per chunk')
    parser.add_argument('--chunk-overlap', '--overlap', type=int, default=None,
                        help='frames shared by consecutive chunks')
    parser.add_argument('--tile', type=int, default=None,
                        help='spatial tile size in pixels (0: whole frames)')
    parser.add_argument('--tile-overlap', type=int, default=None)
    parser.add_argument('--blend', choices=['trim', 'average'], default=None,
                        help='how overlaps are blended')
    parser.add_argument('--amp', action='store_true', default=None,
                        help='fp16 autocast on CUDA')
    parser.add_argument('--fps', type=float, default=None, help='output fps (default: input)')
    parser.add_argument('--side-by-side', action='store_true',
                        help='write input | restored next to each other')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs')
    parser.add_argument('--low-memory', action='store_true',
                        help="CPU: glibc returns freed maps to the system (a lower peak RSS, "
                        'slower: vdeblur_mm.utils.malloc)')
    parser.add_argument('--low-memory-threshold', type=float, default=1.0, metavar='MIB',
                        help='with --low-memory: maps above this size are returned when freed '
                        '(larger: faster, a higher peak; FMA-Net 180x320: 1 MiB 1,171-1,186 MB '
                        '79-89 s, 4 MiB 1,197 MB 65 s, 8 MiB 1,207 MB 53 s)')
    args = parser.parse_args(argv)
    if args.low_memory:
        limit_heap_retention(int(args.low_memory_threshold * 2**20))
    try:
        model = init_model(args.config, args.checkpoint, device=args.device,
                           cfg_options=args.cfg_options)
        start = time.time()
        count = deblur_video(model, args.input, args.output, chunk_frames=args.chunk,
                             chunk_overlap=args.chunk_overlap, tile=args.tile,
                             tile_overlap=args.tile_overlap, amp=args.amp, fps=args.fps,
                             blend=args.blend, side_by_side=args.side_by_side)
    except (FileNotFoundError, VideoReadError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'wrote {count} frames to {args.output} in {time.time() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
