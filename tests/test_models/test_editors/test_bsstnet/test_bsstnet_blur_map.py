import cv2
import numpy as np
import pytest
import torch

from vdeblur_mm.models.editors.bsstnet.bsstnet_blur_map import blur_map_from_flows, save_blur_maps
from vdeblur_mm.models.editors.bsstnet.bsstnet_flow import DISFlowEstimator


def test_blur_map_formula_by_hand():
    n, t, h, w = 1, 3, 2, 2
    fwd = torch.zeros(n, t - 1, 2, h, w)
    bwd = torch.zeros(n, t - 1, 2, h, w)
    bwd[0, 0, 0] = 2.0  # frame 0 -> 1 moves 2 px: |.|^2 = 4
    fwd[0, 0, 1] = 1.0  # frame 1 -> 0 moves 1 px: 1
    bwd[0, 1, 0] = 3.0  # frame 1 -> 2 moves 3 px: 9
    fwd[0, 1, 0, 0, 0] = 4.0  # frame 2 -> 1, one pixel moves 4 px: 16
    blur = blur_map_from_flows(fwd, bwd)
    raw = torch.tensor([4.0, (1 + 9) / 2, 0.0])  # frame 2 is 16 at one pixel, 0 elsewhere
    assert blur.shape == (1, 3, 1, 2, 2)
    assert torch.allclose(blur[0, :2, 0, 1, 1], raw[:2] / 16)
    assert blur[0, 2, 0, 0, 0] == 1 and blur[0, 2, 0, 1, 1] == 0
    with pytest.raises(ValueError, match='same shape'):
        blur_map_from_flows(fwd, bwd[:, :1])
    still = blur_map_from_flows(torch.zeros_like(fwd), torch.zeros_like(bwd), eps=1e-6)
    assert torch.equal(still, torch.zeros_like(still))


def test_blur_map_is_high_where_things_move(tmp_path):
    """A textured square moves right by 4 px per frame over a static textured background."""
    rng = np.random.default_rng(0)
    def tex(h, w):
        return cv2.GaussianBlur(rng.uniform(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 1.5)
    background, square = tex(96, 96), tex(24, 24)
    frames = []
    for i in range(4):
        f = background.copy()
        f[36:60, 20 + 4 * i:44 + 4 * i] = square
        frames.append(torch.from_numpy(f).permute(2, 0, 1))
    clip = torch.stack(frames)[None]
    dis = DISFlowEstimator()
    fwd = torch.stack([dis(clip[:, i + 1], clip[:, i]) for i in range(3)], dim=1)
    bwd = torch.stack([dis(clip[:, i], clip[:, i + 1]) for i in range(3)], dim=1)
    blur = blur_map_from_flows(fwd, bwd, eps=1e-6)[0, :, 0]
    moving = blur[1:3, 40:56, 34:44].mean()  # inside the square in the middle frames
    static = blur[1:3, 4:28, 60:92].mean()  # background far from it
    assert moving > 0.3 and static < 0.05, (moving, static)
    paths = save_blur_maps(blur[None, :, None], str(tmp_path / 'maps'))
    assert len(paths) == 4 and cv2.imread(paths[1]).shape == (96, 96, 3)
