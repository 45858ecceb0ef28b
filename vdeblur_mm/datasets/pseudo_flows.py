"""Pseudo-ground-truth optical flows for FMA-Net, precomputed on the LR sharp frames.

As FMA-Net's ``preprocessing/generate_flow.py`` (``dist_list = [1]``, T = 3): for every frame
``t`` with both neighbours, the flows ``t → t-1`` and ``t → t+1`` are estimated on the
low-resolution sharp frames and saved as ``<flow folder>/<stem t>_<stem t±1>.npy``, (h, w, 2)
float32 in LR pixels, channel 0 horizontal — what ``LoadPseudoFlows`` reads.

Estimators (``vdeblur_mm.models.editors.bsstnet.bsstnet_flow``): torchvision's RAFT from a local
checkpoint (RAFT-large in torchvision or the official princeton-vl layout, e.g. the
``raft-sintel.pth`` FMA-Net uses; RAFT-small in torchvision layout), nothing downloaded; or
OpenCV's DIS (no weights; for CPU runs and tests, not the published pseudo-GT).

Differences from the official script: frames are padded to a multiple of 8 (and at least
128 px) by reflection instead of zeros, and fed as RGB; the official feeds the cv2-loaded BGR
frames to RAFT (``channel_order='bgr'`` reproduces that).
"""
import os
import os.path as osp

import cv2
import numpy as np
import torch

from .layouts import FLOW_FOLDER, discover_sequences, flow_file_name, layout_folders
from .video_deblur_dataset import DatasetError, scan_extra_frames, scan_sequence

FLOW_ESTIMATORS = ('raft', 'dis')
# DIS needs frames of at least 12 px; smaller ones (tiny test data) are padded, flows cropped
MIN_FLOW_SIZE = 16


def build_flow_estimator(estimator='raft', checkpoint=None, raft_variant='large',
                         num_flow_updates=20, dis_preset='medium', device='cpu'):
    """A frozen flow estimator, ``flow = est(image1, image2)`` on (n, 3, h, w) RGB in [0, 1].

    Args:
        estimator (str): 'raft' or 'dis'.
        checkpoint (str, optional): Local RAFT weights (required for 'raft').
        raft_variant (str): 'large' or 'small'. Default: 'large'.
        num_flow_updates (int): RAFT iterations. Default: 20 (official RAFT default).
        dis_preset (str): DIS preset. Default: 'medium'.
        device (str): Torch device. Default: 'cpu'.
    """
    from ..models.editors.bsstnet.bsstnet_flow import DISFlowEstimator, RAFTFlowEstimator
    if estimator == 'dis':
        return DISFlowEstimator(dis_preset)
    if estimator != 'raft':
        raise ValueError(f'estimator must be one of {FLOW_ESTIMATORS}, got {estimator!r}')
    if not checkpoint or not osp.isfile(checkpoint):
        raise FileNotFoundError(f'RAFT checkpoint {checkpoint!r} does not exist: pass a local '
                                'RAFT weights file (e.g. the official raft-sintel.pth, or a '
                                'torchvision raft_large/raft_small state dict); nothing is '
                                'downloaded. Or use the DIS estimator (no weights).')
    return RAFTFlowEstimator(checkpoint, variant=raft_variant,
                             num_flow_updates=num_flow_updates).to(device)


def _read_rgb(path, channel_order, device):
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise IOError(f'frame {path} could not be decoded')
    if channel_order == 'rgb':
        img = img[..., ::-1]
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div(255).to(
        device)


def _estimate(estimator, image1, image2):
    from ..models.layers.video import pad_to_multiple
    h, w = image1.shape[-2:]
    if min(h, w) >= MIN_FLOW_SIZE:
        return estimator(image1, image2)
    pad = (pad_to_multiple(x, 1, min_size=MIN_FLOW_SIZE) for x in (image1, image2))
    return estimator(*pad)[..., :h, :w]


def generate_pseudo_flows(data_root, layout, estimator, sequences=None, dist=1,
                          overwrite=False, channel_order='rgb', device='cpu', log=None):
    """Write the centre → neighbour flows of every sequence, from its LR sharp frames.

    Args:
        data_root (str): Dataset root.
        layout (str | dict): A layout with 'sharp_lr' and 'flow' folders (e.g. 'reds_vsrdb',
            'gopro_x4').
        estimator (nn.Module): From :func:`build_flow_estimator`.
        sequences (list[str], optional): Only these sequences (default: all discovered).
        dist (int): Neighbour distance. Default: 1 (FMA-Net with T = 3).
        overwrite (bool): Recompute existing flow files. Default: False.
        channel_order (str): Order the frames are fed in: 'rgb' (what RAFT was trained on) or
            'bgr' (as the official script). Default: 'rgb'.
        device (str): Device of the frames. Default: 'cpu'.
        log (callable, optional): Called with one progress line per sequence.

    Returns:
        dict: ``{sequence: number of flow files written}``.
    """
    if channel_order not in ('rgb', 'bgr'):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    folders = layout_folders(layout)
    for kind in ('sharp_lr', FLOW_FOLDER):
        if kind not in folders:
            raise DatasetError(f'layout {layout!r} names no {kind!r} folder (it has '
                               f'{sorted(folders)}); pseudo-flows are computed from the LR '
                               "sharp frames into the flow folder, e.g. layout 'reds_vsrdb'")
    names = list(sequences) if sequences else discover_sequences(data_root, layout)
    if not names:
        raise DatasetError(f'no sequence found under {data_root} for layout {layout!r} '
                           f"(expected folders like {osp.join(data_root, folders['blur'])})")
    written = {}
    with torch.no_grad():
        for seq in names:
            blur, _ = scan_sequence(data_root, layout, seq)
            frames = scan_extra_frames(data_root, layout, seq, 'sharp_lr', blur)
            out_dir = osp.join(data_root, folders[FLOW_FOLDER].format(seq=seq))
            os.makedirs(out_dir, exist_ok=True)
            stems = [osp.splitext(osp.basename(f))[0] for f in frames]
            count = 0
            for t in range(dist, len(frames) - dist):
                targets = [osp.join(out_dir, flow_file_name(stems[t], stems[t + d]))
                           for d in (-dist, dist)]
                if not overwrite and all(osp.isfile(p) for p in targets):
                    continue
                centre = _read_rgb(frames[t], channel_order, device)
                neighbours = torch.stack([_read_rgb(frames[t + d], channel_order, device)
                                          for d in (-dist, dist)])
                flows = _estimate(estimator, torch.stack([centre, centre]), neighbours)
                for path, flow in zip(targets, flows):
                    np.save(path, flow.permute(1, 2, 0).float().cpu().numpy())
                    count += 1
            written[seq] = count
            if log is not None:
                log(f'{seq}: {count} flow files written to {out_dir}')
    return written
