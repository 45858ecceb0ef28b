"""Synthetic blurry videos in GoPro layout, made from still images shipped with scikit-image.

GoPro's recipe, in miniature: a sharp scene is filmed at a high frame rate along a camera
trajectory, consecutive sub-frames are averaged in linear light into one blurry frame (then
re-gamma'd), and the centre sub-frame is the sharp ground truth. Here the "camera" is a smooth
random 2-D similarity transform (translation, small rotation and zoom) over a still image.
"""
import json
import os
import os.path as osp

import cv2
import numpy as np

# Sample images that scikit-image ships inside its wheel (no download); grey ones are
# replicated to RGB. Test clips come only from TEST_IMAGES, training clips from the others.
# ('colorwheel' and 'clock' are left out: nearly flat, their clips show no visible blur.)
SOURCE_IMAGES = ('astronaut', 'chelsea', 'coffee', 'rocket', 'hubble_deep_field',
                 'immunohistochemistry', 'stereo_motorcycle', 'retina', 'brick', 'grass',
                 'gravel', 'camera', 'moon', 'coins', 'text', 'page')
TEST_IMAGES = ('astronaut', 'stereo_motorcycle', 'camera')
GAMMA = 2.2
# bumped when the rendering changes, so that stale generated folders are detected
GENERATOR_VERSION = 2
SETTINGS_FILE = 'synthetic_settings.json'


def load_source_images():
    """Return ``{name: float32 RGB image in [0, 1]}`` for the sample images available offline."""
    from skimage import data as skdata
    images = {}
    for name in SOURCE_IMAGES:
        loader = getattr(skdata, name, None)
        if loader is None:
            continue
        try:
            img = loader()
        except Exception:  # pragma: no cover - image needs a download in this skimage version
            continue
        if isinstance(img, tuple):
            img = img[0]
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        img = img[..., :3].astype(np.float32) / (255.0 if img.dtype == np.uint8 else 1.0)
        images[name] = img
    if len(images) < 2:
        raise RuntimeError('scikit-image ships fewer than 2 usable sample images; cannot make '
                           'a train/test split of synthetic videos')
    return images


def camera_trajectory(rng, num_steps, max_speed, max_angle=0.04, max_zoom=0.03):
    """Smooth random camera poses ``(dx, dy, angle, zoom)`` for ``num_steps`` sub-frames.

    Velocities are a few random low-frequency sinusoids, so the motion is smooth and varies in
    speed and direction along the clip; ``max_speed`` is pixels per sub-frame.
    """
    t = np.linspace(0.0, 1.0, num_steps)[:, None]
    freqs = rng.uniform(0.3, 2.0, size=(1, 3))
    phases = rng.uniform(0, 2 * np.pi, size=(1, 3))
    amps = rng.uniform(0.3, 1.0, size=(1, 3))
    vel = (amps * np.sin(2 * np.pi * freqs * t + phases)).sum(-1) / amps.sum()  # in [-1, 1]
    direction = rng.uniform(0, 2 * np.pi) + 0.6 * np.cumsum(vel) / num_steps * 2 * np.pi
    speed = max_speed * (0.35 + 0.65 * np.abs(vel))
    dx = np.cumsum(speed * np.cos(direction))
    dy = np.cumsum(speed * np.sin(direction))
    angle = max_angle * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t[:, 0] + rng.uniform(0, 6))
    zoom = 1.0 + max_zoom * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t[:, 0] + rng.uniform(0, 6))
    return np.stack([dx - dx.mean(), dy - dy.mean(), angle, zoom], axis=1)


def render_view(linear_img, pose, out_hw):
    """Warp the (linear-light) source by ``pose`` and crop the centred ``out_hw`` view."""
    h, w = out_hw
    src_h, src_w = linear_img.shape[:2]
    dx, dy, angle, zoom = pose
    cx, cy = src_w / 2.0 + dx, src_h / 2.0 + dy
    mat = cv2.getRotationMatrix2D((cx, cy), np.degrees(angle), zoom)
    mat[:, 2] += np.array([w / 2.0 - cx, h / 2.0 - cy])
    return cv2.warpAffine(linear_img, mat, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT101)


def synthesize_clip(image, rng, num_frames, out_hw, subframes=9, max_blur_px=14.0):
    """Render one clip.

    Args:
        image (ndarray): Source RGB image in [0, 1] (sRGB).
        num_frames (int): Frames in the clip.
        out_hw (tuple[int]): Output frame size (H, W).
        subframes (int): High-frame-rate sub-frames averaged into one blurry frame.
        max_blur_px (float): Largest blur-trail length in pixels within one frame.

    Returns:
        tuple(ndarray, ndarray): blurry and sharp uint8 RGB frames, (T, H, W, 3) each.
    """
    h, w = out_hw
    max_speed = max_blur_px / subframes * rng.uniform(0.4, 1.0)
    poses = camera_trajectory(rng, num_frames * subframes, max_speed)
    # Scale the source: randomly down (denser texture, more varied content per image), and up
    # only as far as needed for the whole trajectory to stay inside it.
    extent = np.abs(poses[:, :2]).max(0)
    need = max((h + 2 * extent[1] + 16) / image.shape[0],
               (w + 2 * extent[0] + 16) / image.shape[1])
    scale = max(need, rng.uniform(0.5, 1.0))
    src = cv2.resize(image, None, fx=scale, fy=scale,
                     interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    # a random view of the image, not always its centre, wherever the trajectory fits
    slack = np.maximum((np.array(src.shape[1::-1]) - np.array([w, h]) - 2 * extent - 16) / 2, 0)
    poses[:, :2] += rng.uniform(-slack, slack)
    linear = np.clip(src, 0, 1) ** GAMMA
    blurry, sharp = [], []
    for t in range(num_frames):
        views = [render_view(linear, poses[t * subframes + s], (h, w)) for s in range(subframes)]
        blurry.append(np.mean(views, axis=0))
        sharp.append(views[subframes // 2])

    def to_uint8(frames):
        return (np.clip(np.stack(frames), 0, 1) ** (1 / GAMMA) * 255 + 0.5).astype(np.uint8)

    return to_uint8(blurry), to_uint8(sharp)


def write_frames(folder, frames, filename_tmpl='{:06d}.png'):
    os.makedirs(folder, exist_ok=True)
    for i, frame in enumerate(frames):
        if not cv2.imwrite(osp.join(folder, filename_tmpl.format(i)), frame[..., ::-1]):
            raise IOError(f'could not write {osp.join(folder, filename_tmpl.format(i))}')


def generate_synthetic_dataset(out_root, num_train=6, num_test=2, num_frames=12,
                               size=(256, 256), subframes=9, max_blur_px=14.0, seed=0,
                               lr_scale=None, lr_method='matlab'):
    """Write a GoPro-layout dataset: ``out_root/{train,test}/<seq>/{blur,sharp}/000000.png``.

    Train and test clips come from disjoint source images, so test clips are held out.

    With ``lr_scale`` (e.g. 4, for joint super-resolution + deblurring), every sequence also
    gets ``blur_x<s>`` and ``sharp_x<s>``: the blurry and the sharp frames bicubic-downsampled
    by ``lr_scale`` (layout 'gopro_x4' for ``lr_scale=4``; the pseudo-flows, ``flow_x4``, are
    left to ``tools/generate_pseudo_flows.py``).

    Args:
        lr_scale (int, optional): Also write the x``lr_scale`` LR frames; ``size`` must be
            a multiple of it. Default: None.
        lr_method (str): Downsampling, 'matlab' (MATLAB-like bicubic, as REDS' X4 frames) or
            'cv2' (``cv2.INTER_CUBIC``). Default: 'matlab'.

    Returns:
        dict: ``{'train': [seq names], 'test': [seq names]}``.
    """
    if lr_scale is not None and (size[0] % lr_scale or size[1] % lr_scale):
        raise ValueError(f'size {tuple(size)} is not a multiple of lr_scale {lr_scale}')
    settings = dict(version=GENERATOR_VERSION, num_train=num_train, num_test=num_test,
                    num_frames=num_frames, size=list(size), subframes=subframes,
                    max_blur_px=max_blur_px, seed=seed)
    if lr_scale is not None:
        settings.update(lr_scale=lr_scale, lr_method=lr_method)
    rng = np.random.default_rng(seed)
    images = load_source_images()
    test_names = [n for n in TEST_IMAGES if n in images] or sorted(images)[:1]
    train_names = [n for n in sorted(images) if n not in test_names]
    written = {}
    for split, count, pool in (('train', num_train, train_names), ('test', num_test, test_names)):
        written[split] = []
        for i in range(count):
            src_name = pool[i % len(pool)]
            blurry, sharp = synthesize_clip(images[src_name], rng, num_frames, size, subframes,
                                            max_blur_px)
            seq = f'{src_name}_{i:03d}'
            write_frames(osp.join(out_root, split, seq, 'blur'), blurry)
            write_frames(osp.join(out_root, split, seq, 'sharp'), sharp)
            if lr_scale is not None:
                from .downsample import downsample_frame
                for kind, frames in (('blur', blurry), ('sharp', sharp)):
                    write_frames(osp.join(out_root, split, seq, f'{kind}_x{lr_scale}'),
                                 [downsample_frame(f, lr_scale, lr_method) for f in frames])
            written[split].append(seq)
    os.makedirs(out_root, exist_ok=True)
    with open(osp.join(out_root, SETTINGS_FILE), 'w') as f:
        json.dump(settings, f, indent=2)
    return written


def synthetic_dataset_settings(root):
    """The settings a synthetic dataset folder was generated with (None if unknown)."""
    path = osp.join(root, SETTINGS_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)
