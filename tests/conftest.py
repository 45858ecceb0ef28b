import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import vdeblur_mm  # noqa: E402,F401  (compat fixes before mmagic)


def write_sequence(folder, frames, tmpl='{:06d}.png'):
    os.makedirs(folder, exist_ok=True)
    for i, frame in enumerate(frames):
        assert cv2.imwrite(osp.join(folder, tmpl.format(i)), frame[..., ::-1])


def random_frames(rng, num, h=32, w=48):
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(num)]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    """A small synthetic GoPro-layout dataset (256x256, as BasicVSR++ needs), made once."""
    from vdeblur_mm.datasets import generate_synthetic_dataset
    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_dataset(root, num_train=2, num_test=1, num_frames=4, size=(256, 256),
                               subframes=5, seed=1)
    return root


@pytest.fixture(scope='session')
def raft_checkpoint(tmp_path_factory):
    """Random RAFT-large weights in the official princeton-vl layout (``module.`` keys, as
    raft-things.pth), for configs whose flow estimator reads a local RAFT file."""
    import torch
    from torchvision.models.optical_flow import raft_large

    from vdeblur_mm.models.editors.bsstnet.raft_convert import convert_raft_torchvision_to_official
    torch.manual_seed(0)
    state = convert_raft_torchvision_to_official(raft_large(weights=None).state_dict())
    path = str(tmp_path_factory.mktemp('raft') / 'raft-things.pth')
    torch.save({'module.' + k: v for k, v in state.items()}, path)
    return path


@pytest.fixture(scope='session')
def synthetic_vsrdb_root(tmp_path_factory):
    """A tiny synthetic x4 VSRDB dataset (FMA-Net), layout 'gopro_x4', made once: 2 train clips
    and 1 test clip of 5 frames, HR 64x64 ('sharp', 'blur'), LR 16x16 ('blur_x4', 'sharp_x4'),
    DIS pseudo-flows ('flow_x4', centre -> neighbour, both splits). Returns the root holding
    train/ and test/."""
    from vdeblur_mm.datasets import (
        build_flow_estimator,
        generate_pseudo_flows,
        generate_synthetic_dataset,
    )
    root = str(tmp_path_factory.mktemp('synthetic_vsrdb'))
    generate_synthetic_dataset(root, num_train=2, num_test=1, num_frames=5, size=(64, 64),
                               subframes=3, seed=2, lr_scale=4)
    estimator = build_flow_estimator('dis')
    for split in ('train', 'test'):
        generate_pseudo_flows(osp.join(root, split), 'gopro_x4', estimator)
    return root
