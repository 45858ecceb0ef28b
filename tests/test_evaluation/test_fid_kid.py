"""VideoFIDKID: a local TorchScript Inception (a tiny stand-in the test scripts itself), FID and
KID of equal and of different frame sets, KID against a direct double sum, clear errors."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from vdeblur_mm.evaluation.metrics import VideoFIDKID, kernel_inception_distance


class TinyInception(nn.Module):
    """Tero's interface: uint8 RGB (N, 3, H, W) of any size, ``return_features`` -> (N, d)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 16, 3)

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = x.float() / 127.5 - 1
        return torch.relu(self.conv(x)).mean((2, 3))


@pytest.fixture(scope='module')
def inception_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('inception') / 'tiny_inception.pt')
    torch.jit.script(TinyInception()).save(path)
    return path


def kid_reference(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, by explicit double sums."""
    d, m = x.shape[1], len(x)

    def k(a, b):
        return (a @ b / d + 1) ** 3
    same = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    cross = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return same / (m * (m - 1)) - 2 * cross / (m * m)


def test_kid_equals_the_double_sum():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(0.5, 1, size=(12, 5))
    # one subset of all rows: the subset choice only permutes them
    assert kernel_inception_distance(x, y, num_subsets=1, subset_size=12) == pytest.approx(
        kid_reference(x, y), rel=1e-10)


def clip(seed, t=4, size=(24, 32)):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (t, 3, *size))).float()


def run(metric, pairs):
    for gt, pred in pairs:
        metric.process(None, [dict(gt_img=gt, output=dict(pred_img=pred), key='clip')])
    return metric.compute_metrics(metric.results)


def test_fid_kid_of_equal_and_different_frames(inception_path):
    metric = VideoFIDKID(inception_path=inception_path, kid_subsets=10, device='cpu')
    gts = [clip(s) for s in range(4)]
    same = run(metric, [(g, g.clone()) for g in gts])
    assert same['frames'] == 16 and abs(same['FID']) < 1e-6 and abs(same['KID']) < 1e-3
    metric.results = []
    dark = run(metric, [(g, g * 0.3) for g in gts])
    assert dark['FID'] > 1e-3 and dark['KID'] > 1e-3
    # BGR frames (what mmagic's preprocessor records) are flipped to RGB before Inception
    f_rgb = metric.features(gts[0], 'rgb')
    f_bgr = metric.features(gts[0].flip(1), 'bgr')
    np.testing.assert_allclose(f_rgb, f_bgr)


def test_missing_or_bad_inception_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='Inception network from a local file'):
        VideoFIDKID(inception_path=str(tmp_path / 'absent.pt'))
    bad = tmp_path / 'bad.pt'
    bad.write_bytes(b'not a model')
    with pytest.raises(ValueError, match='not a TorchScript Inception'):
        VideoFIDKID(inception_path=str(bad))


def test_too_few_frames(inception_path):
    metric = VideoFIDKID(inception_path=inception_path, device='cpu')
    with pytest.raises(ValueError, match='at least 2 scored frames'):
        run(metric, [(clip(0, t=1), clip(1, t=1))])
