import math

import pytest
import torch

from vdeblur_mm.models.losses import SaturatedPSNRLoss


def test_saturated_psnr_loss_is_minus_psnr_per_sample_and_saturates():
    loss = SaturatedPSNRLoss(max_psnr=40.0)
    target = torch.zeros(2, 3, 4, 4)
    pred = target.clone()
    pred[0] += 0.1  # MSE 1e-2: 20 dB
    pred[1] += 1e-4  # MSE 1e-8: saturated at 40 dB
    expected = -(-10 * math.log10(1e-2 + 1e-4) - 10 * math.log10(1e-8 + 1e-4)) / 2
    assert loss(pred, target).item() == pytest.approx(expected, rel=1e-5)
    assert loss(target, target).item() == pytest.approx(-40.0, rel=1e-6)
    pred.requires_grad_(True)
    loss(pred, target).backward()
    assert torch.isfinite(pred.grad).all()
    with pytest.raises(ValueError, match='differ'):
        loss(pred, target[:, :2])
