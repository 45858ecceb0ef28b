"""Write BSSTNet's blur maps of a video (mp4 or frame folder) as false-colour PNGs.

    python tools/save_blur_maps.py INPUT OUT_DIR [--raft CHECKPOINT] [--frames 48]
        [--refined CONFIG CHECKPOINT]

Flows are computed as BSSTNet does (frames at 1/2 size, flows at 1/4); with ``--raft`` by RAFT
from a local checkpoint (official raft-things.pth or torchvision layout), otherwise by OpenCV's
DIS. The maps are min-max normalised over each chunk of ``--frames`` frames, as the network
sees them. With ``--refined``, the flows first go through a trained BSSTNet's flow refiner and
the maps are those the network's sparse transformer uses.
"""
import argparse
import os.path as osp
import sys

import _common  # noqa: F401  (puts the clone on sys.path, applies the compat fixes)

# isort: split
import numpy as np
import torch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('input', help='video file or folder of frames')
    parser.add_argument('out_dir')
    parser.add_argument('--raft', help='local RAFT-large checkpoint (default: OpenCV DIS flow)')
    parser.add_argument('--frames', type=int, default=48, help='frames per normalised chunk')
    parser.add_argument('--refined', nargs=2, metavar=('CONFIG', 'CHECKPOINT'),
                        help='also refine the flows with this BSSTNet model')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)

    from vdeblur_mm.inference import VideoReadError, init_model
    from vdeblur_mm.inference.video_io import FrameReader
    from vdeblur_mm.models.editors.bsstnet.bsstnet_blur_map import (
        blur_map_from_flows,
        save_blur_maps,
    )
    from vdeblur_mm.models.editors.bsstnet.bsstnet_flow import (
        DISFlowEstimator,
        RAFTFlowEstimator,
        neighbour_flows,
    )
    if args.frames < 2:
        raise SystemExit('error: --frames must be at least 2')
    estimator = (RAFTFlowEstimator(args.raft) if args.raft else DISFlowEstimator()).to(
        args.device)
    model = init_model(args.refined[0], args.refined[1], args.device) if args.refined else None
    try:
        frames = list(FrameReader(args.input))
    except VideoReadError as err:
        raise SystemExit(f'error: {err}')
    if len(frames) < 2:
        raise SystemExit(f'error: {args.input} has {len(frames)} frame(s); blur maps need 2')
    written = 0
    for start in range(0, len(frames), args.frames):
        chunk = frames[start:start + args.frames]
        if len(chunk) < 2:  # a last single frame joins the previous chunk's normalisation
            chunk, start = frames[-2:], len(frames) - 2
        clip = torch.from_numpy(np.stack(chunk)).permute(0, 3, 1, 2).float().div(255)
        clip = clip[None].to(args.device)
        h, w = clip.shape[-2:]
        clip = clip[..., :h - h % 8, :w - w % 8]  # /2 then /4 sizes must be whole
        fw, bw = neighbour_flows(estimator, clip)
        if model is not None:
            with torch.no_grad():
                fw, bw, blur = model.generator.blur_maps(fw, bw)
        else:
            blur = blur_map_from_flows(fw, bw, eps=1e-6)
        paths = save_blur_maps(blur, args.out_dir, prefix=f'blur_{start:06d}')
        written += len(paths)
    print(f'wrote {written} blur maps to {osp.abspath(args.out_dir)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
