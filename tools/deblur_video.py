"""Deblur a video file (or a folder of frames) with any registered video model.

Example:
    python tools/deblur_video.py configs/basicvsr_pp_deblur/<config>.py model.pth in.mp4 out.mp4
Frames are processed in overlapping temporal chunks (and optional spatial tiles), so memory does
not grow with the video's length or resolution.
"""
import argparse
import sys
import time

import _common  # noqa: F401
import torch

from vdeblur_mm.inference import VideoReadError, deblur_video, init_model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('input', help='video file (mp4, avi, ...) or folder of frames')
    parser.add_argument('output', help='video file (by extension) or folder for PNG frames')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--chunk', type=int, default=30, help='frames per model call')
    parser.add_argument('--overlap', type=int, default=4, help='frames shared by chunks')
    parser.add_argument('--tile', type=int, default=None, help='spatial tile size (pixels)')
    parser.add_argument('--tile-overlap', type=int, default=32)
    parser.add_argument('--amp', action='store_true', help='fp16 autocast on CUDA')
    parser.add_argument('--fps', type=float, default=None, help='output fps (default: input)')
    args = parser.parse_args(argv)
    try:
        model = init_model(args.config, args.checkpoint, device=args.device)
        start = time.time()
        count = deblur_video(model, args.input, args.output, args.chunk, args.overlap,
                             args.tile, args.tile_overlap, args.amp, args.fps)
    except (FileNotFoundError, VideoReadError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'wrote {count} frames to {args.output} in {time.time() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
