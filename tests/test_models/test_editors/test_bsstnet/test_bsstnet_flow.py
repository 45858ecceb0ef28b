import cv2
import numpy as np
import pytest
import torch

from vdeblur_mm.models.editors.bsstnet.bsstnet_flow import DISFlowEstimator, RAFTFlowEstimator


def textured_pair(shift=3, h=64, w=80, seed=0):
    """image2 is image1 moved `shift` px to the right: the flow 1 -> 2 is (+shift, 0)."""
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.uniform(0, 1, (h, w + 16, 3)).astype(np.float32), (0, 0), 2)
    big = (big - big.min()) / (big.max() - big.min())
    img1 = big[:, 8:8 + w]
    img2 = big[:, 8 - shift:8 - shift + w]
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]  # noqa
    return to_t(img1), to_t(img2)


def test_dis_flow_recovers_a_known_translation():
    img1, img2 = textured_pair(shift=3)
    flow = DISFlowEstimator()(img1, img2)
    assert flow.shape == (1, 2, 64, 80) and flow.dtype == img1.dtype
    centre = flow[0, :, 16:48, 16:64].mean(dim=(1, 2))
    assert torch.allclose(centre, torch.tensor([3.0, 0.0]), atol=0.3), centre
    with pytest.raises(ValueError, match='preset'):
        DISFlowEstimator('slowest')
    with pytest.raises(ValueError, match='same shape'):
        DISFlowEstimator()(img1, img2[..., :32])


def test_raft_loads_local_weights_and_pads(tmp_path):
    from torchvision.models.optical_flow import raft_small
    torch.manual_seed(0)
    path = tmp_path / 'raft_small.pth'
    torch.save(raft_small(weights=None).state_dict(), path)
    with pytest.raises(FileNotFoundError, match='nothing is downloaded'):
        RAFTFlowEstimator(str(tmp_path / 'missing.pth'), variant='small')
    est = RAFTFlowEstimator(str(path), variant='small', num_flow_updates=2)
    est.train()
    assert not est.training and not any(p.requires_grad for p in est.parameters())
    img1, img2 = textured_pair(h=36, w=44)  # not multiples of 8
    flow = est(img1, img2)
    assert flow.shape == (1, 2, 36, 44) and torch.isfinite(flow).all()
    saved = torch.load(path)
    name = next(iter(saved))
    assert torch.equal(dict(est.raft.named_buffers())[name], saved[name])
    # frozen weights are non-persistent buffers of a real submodule: .to() moves them, they
    # are neither parameters nor state-dict entries of a model that holds the estimator
    holder = torch.nn.Module()
    holder.flow_estimator = est
    assert list(holder.parameters()) == [] and holder.state_dict() == {}
    holder.to(torch.float64)
    assert dict(est.raft.named_buffers())[name].dtype == torch.float64
    bad = tmp_path / 'bad.pth'
    torch.save({'x': torch.zeros(1)}, bad)
    with pytest.raises(RuntimeError):
        RAFTFlowEstimator(str(bad), variant='small')
