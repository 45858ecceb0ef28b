import math

import numpy as np
import pytest
import torch

from vdeblur_mm.evaluation import TemporalFlowError, VideoLPIPS, VideoPSNR, VideoSSIM


def run_metric(metric, gt, pred, key='clip'):
    metric.process([], [dict(gt_img=gt, output=dict(pred_img=pred), key=key)])
    return metric.results[-1][metric.metric]


def psnr_of_diff(diff):
    return 10 * math.log10(255.0**2 / diff**2)


def test_video_psnr_hand_computed():
    gt = torch.full((3, 3, 8, 8), 100.)
    pred = gt.clone()
    pred[0] += 10
    pred[1] += 20
    pred[2] += 40
    expected = np.mean([psnr_of_diff(10), psnr_of_diff(20), psnr_of_diff(40)])
    assert run_metric(VideoPSNR(), gt, pred) == pytest.approx(expected, abs=1e-4)
    # BSSTNet-style protocol: border frames are not scored
    assert run_metric(VideoPSNR(exclude_frames=1), gt, pred) == pytest.approx(
        psnr_of_diff(20), abs=1e-4)
    with pytest.raises(ValueError, match='clip has 3 frames: nothing is left'):
        run_metric(VideoPSNR(exclude_frames=2), gt, pred)


def test_video_psnr_crop_border_and_y():
    gt = torch.full((2, 3, 16, 16), 50.)
    pred = gt.clone()
    pred[..., :4, :] += 30  # error only in the top 4 rows
    assert run_metric(VideoPSNR(crop_border=4), gt, pred) == math.inf
    full = psnr_of_diff(30) + 10 * math.log10(16 / 4)  # a quarter of the pixels wrong
    assert run_metric(VideoPSNR(), gt, pred) == pytest.approx(full, abs=1e-3)
    # Y channel: a pure red error of 100 is 65.481/255*100 in Y (ITU-R BT.601)
    red = torch.zeros(1, 3, 8, 8)
    red[:, 0] = 100
    y_diff = 65.481 * 100 / 255
    assert run_metric(VideoPSNR(convert_to='Y'), torch.zeros(1, 3, 8, 8), red) == \
        pytest.approx(psnr_of_diff(y_diff), abs=0.05)


def test_video_ssim_bounds():
    rng = np.random.default_rng(0)
    gt = torch.from_numpy(rng.uniform(0, 255, (2, 3, 32, 32)).astype(np.float32))
    assert run_metric(VideoSSIM(), gt, gt.clone()) == pytest.approx(1.0)
    noisy = (gt + torch.randn_like(gt) * 30).clamp(0, 255)
    assert 0 < run_metric(VideoSSIM(), gt, noisy) < 0.99
    # flat frames differing by a constant: only the luminance term is left,
    # (2 mu1 mu2 + C1) / (mu1^2 + mu2^2 + C1) with C1 = (0.01 * 255)^2
    c1 = (0.01 * 255)**2
    expected = (2 * 100 * 120 + c1) / (100**2 + 120**2 + c1)
    flat = torch.full((2, 3, 32, 32), 100.)
    assert run_metric(VideoSSIM(), flat, flat + 20) == pytest.approx(expected, abs=1e-5)


def textured(h=96, w=96, seed=0):
    import cv2
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 2.0)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    return np.stack([img] * 3)


def test_tof_known_motion():
    base = textured(112, 112)
    static = torch.from_numpy(np.stack([base[:, 8:104, 8:104]] * 3))
    moving = torch.from_numpy(np.stack(
        [base[:, 8:104, 8 - 2 * t:104 - 2 * t] for t in range(3)]))  # 2 px/frame to the right
    metric = TemporalFlowError()
    assert run_metric(metric, static, static.clone()) == pytest.approx(0, abs=1e-6)
    tof = run_metric(TemporalFlowError(), static, moving)
    assert 1.5 < tof < 2.5, tof
    with pytest.raises(ValueError, match='single frame'):
        run_metric(TemporalFlowError(), static[:1], static[:1])


def test_lpips_from_local_weights(tmp_path):
    import torchvision
    torch.manual_seed(0)
    path = tmp_path / 'alexnet-owt-7be5be79.pth'
    torch.save(torchvision.models.alexnet().state_dict(), path)
    with pytest.raises(FileNotFoundError, match='alexnet-owt-7be5be79.pth'):
        VideoLPIPS(backbone_path=str(tmp_path / 'missing.pth'))
    metric = VideoLPIPS(backbone_path=str(path), device='cpu')
    saved = torch.load(path)
    assert torch.equal(getattr(metric.model.net.slice1, '0').weight, saved['features.0.weight'])
    assert torch.equal(getattr(metric.model.net.slice5, '10').weight, saved['features.10.weight'])
    gt = torch.rand(2, 3, 64, 64) * 255
    assert run_metric(metric, gt, gt.clone()) == pytest.approx(0, abs=1e-6)
    noisy = (gt + torch.randn_like(gt) * 40).clamp(0, 255)
    value = run_metric(metric, gt, noisy)
    direct = metric.model(noisy / 127.5 - 1, gt / 127.5 - 1).mean().item()
    assert value == pytest.approx(direct, rel=1e-5) and value > 0
    bad = tmp_path / 'bad.pth'
    torch.save({'foo': torch.zeros(1)}, bad)
    with pytest.raises(KeyError, match='not a torchvision alex checkpoint'):
        VideoLPIPS(backbone_path=str(bad))


def test_gaussian_3d_ssim_matches_hand_computed_values():
    """BSSTNet's SSIM: for constant frames a and b (no variance) it is
    (2ab + C1) / (a^2 + b^2 + C1), whatever the filter; identical frames give 1."""
    from vdeblur_mm.evaluation.metrics.video_metrics import gaussian_3d_ssim
    a, b = 100 / 255, 150 / 255
    c1 = 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    x = np.full((3, 16, 20), 100.0)
    y = np.full((3, 16, 20), 150.0)
    assert gaussian_3d_ssim(x, y) == pytest.approx(expected, rel=1e-9)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (3, 24, 24)).astype(np.float64)
    assert gaussian_3d_ssim(img, img) == pytest.approx(1.0)
    # through the metric: noise lowers it
    metric = VideoSSIM(gaussian_3d=True)
    noisy = np.clip(img + rng.normal(0, 20, img.shape), 0, 255)
    value = metric.process_image(torch.from_numpy(img), torch.from_numpy(noisy), None)
    assert 0 < value < 1
    with pytest.raises(ValueError, match='gaussian_3d'):
        VideoSSIM(gaussian_3d=True, convert_to='Y')


def official_y_psnr(img1, img2, border=0):
    """FMA-Net's utils.Y_PSNR, re-implemented: (1, 3, H, W) cv2-order (BGR) frames in [0, 255],
    the BT.601 R, G, B weights applied to channels 0, 1, 2."""
    diff = (img1 - img2).double() / 255
    weights = torch.tensor([65.738, 129.057, 25.064], dtype=torch.float64).view(1, 3, 1, 1)
    diff = (diff * weights / 256).sum(dim=1, keepdim=True)
    valid = diff[:, :, border:-border, border:-border]
    return -10 * math.log10(valid.pow(2).mean().item())


def test_y_psnr_standard_and_fmanet_weights():
    # an RGB error (R, G, B) = (30, 0, 10): standard Y weighs R by 65.481/255, FMA-Net's by
    # 24.966/255 (its R weight lands on B)
    gt = torch.full((1, 3, 16, 16), 100.)
    pred = gt.clone()
    pred[:, 0] += 30
    pred[:, 2] += 10
    standard = psnr_of_diff((65.481 * 30 + 24.966 * 10) / 255)
    fmanet = psnr_of_diff((65.481 * 10 + 24.966 * 30) / 255)
    assert run_metric(VideoPSNR(convert_to='Y'), gt, pred) == pytest.approx(standard, abs=1e-3)
    assert run_metric(VideoPSNR(convert_to='Y', y_weights='fmanet_bgr'), gt, pred) == \
        pytest.approx(fmanet, abs=1e-3)
    assert abs(standard - fmanet) > 1
    # R == B: no difference
    grey_err = gt.clone()
    grey_err[:, 0] += 20
    grey_err[:, 2] += 20
    assert run_metric(VideoPSNR(convert_to='Y'), gt, grey_err) == pytest.approx(
        run_metric(VideoPSNR(convert_to='Y', y_weights='fmanet_bgr'), gt, grey_err), abs=1e-4)
    with pytest.raises(ValueError, match="only changes the Y conversion: use it with "
                       "convert_to='Y'"):
        VideoPSNR(y_weights='fmanet_bgr')
    with pytest.raises(ValueError, match='y_weights must be one of'):
        VideoPSNR(convert_to='Y', y_weights='bt709')


def test_fmanet_y_psnr_equals_the_official_formula():
    rng = np.random.default_rng(0)
    rgb_gt = torch.from_numpy(rng.integers(0, 256, (2, 3, 24, 20)).astype(np.float32))
    rgb_pred = (rgb_gt + torch.from_numpy(rng.normal(0, 12, rgb_gt.shape).astype(np.float32))
                ).clamp(0, 255).round()
    bgr_gt, bgr_pred = rgb_gt.flip(1), rgb_pred.flip(1)
    official = np.mean([official_y_psnr(g[None], p[None], border=4)
                        for g, p in zip(bgr_gt, bgr_pred)])
    # RGB frames (direct call) and BGR frames as mmagic's preprocessor hands them in testing
    rgb = run_metric(VideoPSNR(convert_to='Y', y_weights='fmanet_bgr', crop_border=4),
                     rgb_gt, rgb_pred)
    metric = VideoPSNR(convert_to='Y', y_weights='fmanet_bgr', crop_border=4)
    metric.process([], [dict(gt_img=bgr_gt, output=dict(pred_img=bgr_pred), key='c',
                             gt_img_output_channel_order='BGR')])
    assert rgb == pytest.approx(official, abs=1e-4)
    assert metric.results[-1]['PSNR'] == pytest.approx(official, abs=1e-4)
    # the standard Y differs, and does not depend on the order the frames come in
    standard = run_metric(VideoPSNR(convert_to='Y', crop_border=4), rgb_gt, rgb_pred)
    assert standard != pytest.approx(official, abs=1e-3)
    metric = VideoPSNR(convert_to='Y', crop_border=4)
    metric.process([], [dict(gt_img=bgr_gt, output=dict(pred_img=bgr_pred), key='c',
                             gt_img_output_channel_order=['BGR'])])
    assert metric.results[-1]['PSNR'] == pytest.approx(standard, abs=1e-5)
    assert run_metric(VideoPSNR(convert_to='Y', crop_border=4, channel_order='bgr'), bgr_gt,
                      bgr_pred) == pytest.approx(standard, abs=1e-5)
    # SSIM on Y: the same two conventions
    ssim_std = run_metric(VideoSSIM(convert_to='Y', crop_border=4), rgb_gt, rgb_pred)
    ssim_fm = run_metric(VideoSSIM(convert_to='Y', crop_border=4, y_weights='fmanet_bgr'),
                         rgb_gt, rgb_pred)
    ssim_fm_bgr = run_metric(VideoSSIM(convert_to='Y', crop_border=4, y_weights='fmanet_bgr',
                                       channel_order='bgr'), bgr_gt, bgr_pred)
    assert ssim_fm == pytest.approx(ssim_fm_bgr, abs=1e-9) and ssim_fm != ssim_std


def test_official_rgb_ssim_is_mmagics_per_channel_ssim():
    """FMA-Net's utils.SSIM (MATLAB-style, per channel, 4-px crop) is mmagic's SSIM; the
    channel order does not matter for it."""
    import cv2
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 256, (3, 40, 40)).astype(np.float64)
    pred = np.clip(gt + rng.normal(0, 20, gt.shape), 0, 255).round()

    def official_ssim_channel(a, b):
        c1, c2 = (0.01 * 255)**2, (0.03 * 255)**2
        win = np.outer(cv2.getGaussianKernel(11, 1.5), cv2.getGaussianKernel(11, 1.5).T)
        f = lambda x: cv2.filter2D(x, -1, win)[5:-5, 5:-5]  # noqa: E731
        mu1, mu2 = f(a), f(b)
        s1, s2, s12 = f(a * a) - mu1**2, f(b * b) - mu2**2, f(a * b) - mu1 * mu2
        return (((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) /
                ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))).mean()

    crop = (slice(None), slice(4, -4), slice(4, -4))
    official = np.mean([official_ssim_channel(g, p) for g, p in zip(gt[crop], pred[crop])])
    value = run_metric(VideoSSIM(crop_border=4), torch.from_numpy(gt)[None],
                       torch.from_numpy(pred)[None])
    assert value == pytest.approx(official, abs=1e-6)


def test_tof_grey_follows_the_channel_order():
    from vdeblur_mm.evaluation.metrics.video_metrics import _to_gray_uint8
    frame = np.zeros((3, 4, 4))
    frame[0] = 200  # red in RGB, blue in BGR
    assert _to_gray_uint8(frame, 'rgb')[0, 0] == round(0.299 * 200)
    assert _to_gray_uint8(frame, 'bgr')[0, 0] == round(0.114 * 200)
    metric = TemporalFlowError()
    assert metric.sample_channel_order(dict(gt_img_output_channel_order='BGR')) == 'bgr'
    assert metric.sample_channel_order({}) == 'rgb'
