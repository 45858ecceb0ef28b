"""Synthetic blurry videos in GoPro layout, made from still images shipped with scikit-image.

GoPro's recipe, in miniature: a sharp scene is filmed at a high frame rate along a camera
trajectory, consecutive sub-frames are averaged in linear light into one blurry frame (then
re-gamma'd), and the centre sub-frame is the sharp ground truth. Here the "camera" is a smooth
random 2-D similarity transform (translation, rotation and zoom) over a still image, and
foreground objects cut from other images move across it on their own. Each clip draws its
own blur strength (none to strong), objects, exposure and noise, so that a model trained on
them also learns to leave sharp frames alone.
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
GENERATOR_VERSION = 3
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


def procedural_image(rng, size=(512, 512)):
    """A random scene of shapes, strokes and text over a colour gradient ([0, 1] RGB).

    Training content beyond the few sample images: sharp edges of every orientation and scale,
    flat regions and fine print, so that a model does not learn the sample images' textures.
    """
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.uniform(0, 1, (2, 3)).astype(np.float32)
    ramp = (np.cos(rng.uniform(0, np.pi)) * xx / w + np.sin(rng.uniform(0, np.pi)) * yy / h)
    img = c0 + (c1 - c0) * ((ramp - ramp.min()) / (np.ptp(ramp) + 1e-6))[..., None]
    img = np.ascontiguousarray(img * 255 + 0.5).astype(np.uint8)  # cv2 draws text on uint8
    for _ in range(int(rng.integers(20, 60))):
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.integers(4)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(4, max(h, w) // 6))
        if kind == 0:
            cv2.circle(img, (x, y), r, color, -1 if rng.uniform() < 0.7 else int(
                rng.integers(1, 6)), cv2.LINE_AA)
        elif kind == 1:
            pts = rng.integers(-r, r, (int(rng.integers(3, 7)), 2)) + np.array([x, y])
            cv2.fillPoly(img, [pts.astype(np.int32)], color, cv2.LINE_AA)
        elif kind == 2:
            end = (x + int(rng.integers(-2 * r, 2 * r)), y + int(rng.integers(-2 * r, 2 * r)))
            cv2.line(img, (x, y), end, color, int(rng.integers(1, 8)), cv2.LINE_AA)
        else:
            text = ''.join(chr(int(c)) for c in rng.integers(48, 91, int(rng.integers(3, 10))))
            cv2.putText(img, text, (x, y), int(rng.choice([0, 2, 3, 4])),
                        float(rng.uniform(0.4, 2.5)), color, int(rng.integers(1, 4)),
                        cv2.LINE_AA)
    return img.astype(np.float32) / 255


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


def object_sprite(image, rng, size):
    """A foreground object: a random patch of ``image`` (linear light) with a soft alpha mask
    as its fourth channel (one warp moves both).

    The mask is a random rotated ellipse or rounded box, drawn at 4x and area-downsampled so
    that its edge is anti-aliased (a hard 0/1 edge would blur unlike a real object's).
    """
    src_h, src_w = image.shape[:2]
    ph = int(min(size, src_h - 1))
    pw = int(min(size * rng.uniform(0.6, 1.6), src_w - 1))
    y0 = int(rng.integers(0, src_h - ph))
    x0 = int(rng.integers(0, src_w - pw))
    patch = image[y0:y0 + ph, x0:x0 + pw]
    big = np.zeros((ph * 4, pw * 4), np.uint8)
    centre = (pw * 2, ph * 2)
    axes = (int(pw * 2 * rng.uniform(0.6, 0.95)), int(ph * 2 * rng.uniform(0.6, 0.95)))
    angle = float(rng.uniform(0, 180))
    if rng.uniform() < 0.5:
        cv2.ellipse(big, centre, axes, angle, 0, 360, 255, -1)
    else:
        box = cv2.boxPoints((centre, (axes[0] * 1.4, axes[1] * 1.4), angle))
        cv2.fillPoly(big, [np.round(box).astype(np.int32)], 255)
    alpha = cv2.resize(big, (pw, ph), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    return np.ascontiguousarray(np.dstack([patch, alpha]), dtype=np.float32)


def object_trajectory(rng, num_steps, out_hw, max_speed):
    """Straight-line motion with a slow spin, ``(x, y, angle)`` per sub-frame."""
    h, w = out_hw
    t = np.arange(num_steps) - (num_steps - 1) / 2.0
    direction = rng.uniform(0, 2 * np.pi)
    speed = max_speed * rng.uniform(0.3, 1.0)
    spin = rng.uniform(-0.004, 0.004) * (speed > 0)
    x = rng.uniform(0.15, 0.85) * w + speed * np.cos(direction) * t
    y = rng.uniform(0.15, 0.85) * h + speed * np.sin(direction) * t
    return np.stack([x, y, rng.uniform(0, 2 * np.pi) + spin * t], axis=1)


def render_sprite(sprite, pose, out_hw):
    """Warp an RGBA sprite to ``pose = (x, y, angle)``; returns (rgb, alpha), zero outside."""
    h, w = out_hw
    x, y, angle = pose
    ph, pw = sprite.shape[:2]
    mat = cv2.getRotationMatrix2D((pw / 2.0, ph / 2.0), np.degrees(angle), 1.0)
    mat[:, 2] += np.array([x - pw / 2.0, y - ph / 2.0])
    out = cv2.warpAffine(sprite, mat, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out[..., :3], out[..., 3:]


def synthesize_clip(image, rng, num_frames, out_hw, subframes=9, max_blur_px=14.0,
                    max_angle=0.04, max_zoom=0.03, objects=(), object_blur_px=None,
                    exposure=1.0, noise_sigma=0.0):
    """Render one clip.

    The default is a camera moving over a still scene. The keyword options widen it: larger
    rotation and zoom, independently moving foreground objects composited over the scene in
    linear light at every sub-frame (so their blur and the occlusions they cause are those of
    a real high-frame-rate capture), an exposure gain (in linear light, clipped after the
    integration, as a sensor saturates) and Gaussian noise on the blurry frames only (the
    sharp frames are the clean ground truth).

    Args:
        image (ndarray): Source RGB image in [0, 1] (sRGB).
        num_frames (int): Frames in the clip.
        out_hw (tuple[int]): Output frame size (H, W).
        subframes (int): High-frame-rate sub-frames averaged into one blurry frame.
        max_blur_px (float): Largest camera blur-trail length in pixels within one frame.
        max_angle (float): Amplitude of the camera's roll, radians.
        max_zoom (float): Amplitude of the camera's zoom (relative).
        objects (sequence[ndarray]): Images (sRGB, [0, 1]) to cut foreground objects from,
            one object per entry.
        object_blur_px (float, optional): Largest blur-trail of an object within one frame.
            Default: ``max_blur_px``.
        exposure (float): Gain in linear light.
        noise_sigma (float): Standard deviation of the noise added to the blurry frames, in
            units of the [0, 1] sRGB range.

    Returns:
        tuple(ndarray, ndarray): blurry and sharp uint8 RGB frames, (T, H, W, 3) each.
    """
    h, w = out_hw
    num_steps = num_frames * subframes
    max_speed = max_blur_px / subframes * rng.uniform(0.4, 1.0)
    poses = camera_trajectory(rng, num_steps, max_speed, max_angle, max_zoom)
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
    obj_speed = (max_blur_px if object_blur_px is None else object_blur_px) / subframes
    sprites = []
    for obj_image in objects:
        sprite = object_sprite(np.clip(obj_image, 0, 1) ** GAMMA, rng,
                               min(h, w) * rng.uniform(0.2, 0.5))
        sprites.append((sprite, object_trajectory(rng, num_steps, out_hw, obj_speed)))

    def view(step):
        frame = render_view(linear, poses[step], (h, w))
        for sprite, traj in sprites:
            rgb, a = render_sprite(sprite, traj[step], (h, w))
            frame = frame * (1 - a) + rgb * a
        return frame * exposure

    blurry, sharp = [], []
    for t in range(num_frames):
        views = [view(t * subframes + s) for s in range(subframes)]
        blurry.append(np.mean(views, axis=0))
        sharp.append(views[subframes // 2])

    def to_srgb(frames):
        return np.clip(np.stack(frames), 0, 1) ** (1 / GAMMA)

    blurry = to_srgb(blurry)
    if noise_sigma > 0:
        blurry = blurry + rng.normal(0, noise_sigma, blurry.shape)
    return ((np.clip(blurry, 0, 1) * 255 + 0.5).astype(np.uint8),
            (to_srgb(sharp) * 255 + 0.5).astype(np.uint8))


def sample_clip_options(rng, max_blur_px, pool):
    """Random per-clip settings of the 'wide' variety (``synthesize_clip`` keyword options).

    The blur strength ``u`` is uniform in [0, 1] with an extra 15% at 0 (a still camera): it
    scales the camera's translation, roll and zoom together, so that some clips are sharp and
    the model learns to leave those alone. Up to two objects (cut from ``pool``, the split's
    own images) move on their own, some of them in otherwise sharp clips.
    """
    u = 0.0 if rng.uniform() < 0.15 else rng.uniform(0.0, 1.0)
    num_objects = int(rng.choice([0, 0, 1, 1, 2]))
    return dict(
        max_blur_px=max_blur_px * u,
        max_angle=rng.uniform(0.0, 0.15) * u,
        max_zoom=rng.uniform(0.0, 0.08) * u,
        objects=[pool[int(rng.integers(len(pool)))] for _ in range(num_objects)],
        object_blur_px=max_blur_px * rng.uniform(0.0, 1.0),
        exposure=float(np.exp(rng.uniform(np.log(0.6), np.log(1.5)))),
        noise_sigma=0.0 if rng.uniform() < 0.3 else rng.uniform(0.0, 3.0 / 255))


def write_frames(folder, frames, filename_tmpl='{:06d}.png'):
    os.makedirs(folder, exist_ok=True)
    for i, frame in enumerate(frames):
        if not cv2.imwrite(osp.join(folder, filename_tmpl.format(i)), frame[..., ::-1]):
            raise IOError(f'could not write {osp.join(folder, filename_tmpl.format(i))}')


def generate_synthetic_dataset(out_root, num_train=6, num_test=2, num_frames=12,
                               size=(256, 256), subframes=9, max_blur_px=14.0, seed=0,
                               lr_scale=None, lr_method='matlab', variety='wide'):
    """Write a GoPro-layout dataset: ``out_root/{train,test}/<seq>/{blur,sharp}/000000.png``.

    Train and test clips come from disjoint source images (foreground objects included), so
    test clips are held out.

    With ``lr_scale`` (e.g. 4, for joint super-resolution + deblurring), every sequence also
    gets ``blur_x<s>`` and ``sharp_x<s>``: the blurry and the sharp frames bicubic-downsampled
    by ``lr_scale`` (layout 'gopro_x4' for ``lr_scale=4``; the pseudo-flows, ``flow_x4``, are
    left to ``tools/generate_pseudo_flows.py``).

    Args:
        variety (str): 'wide' (default): every clip draws its own blur strength from none to
            ``max_blur_px`` (camera translation, roll and zoom), moving foreground objects,
            exposure and noise (``sample_clip_options``); 'camera': a camera moving over a
            still scene, always with blur up to ``max_blur_px`` (generator version 2's clips).
        lr_scale (int, optional): Also write the x``lr_scale`` LR frames; ``size`` must be
            a multiple of it. Default: None.
        lr_method (str): Downsampling, 'matlab' (MATLAB-like bicubic, as REDS' X4 frames) or
            'cv2' (``cv2.INTER_CUBIC``). Default: 'matlab'.

    Returns:
        dict: ``{'train': [seq names], 'test': [seq names]}``.
    """
    if variety not in ('wide', 'camera'):
        raise ValueError(f"variety must be 'wide' or 'camera', got {variety!r}")
    if lr_scale is not None and (size[0] % lr_scale or size[1] % lr_scale):
        raise ValueError(f'size {tuple(size)} is not a multiple of lr_scale {lr_scale}')
    settings = dict(version=GENERATOR_VERSION, num_train=num_train, num_test=num_test,
                    num_frames=num_frames, size=list(size), subframes=subframes,
                    max_blur_px=max_blur_px, seed=seed, variety=variety)
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
            image = images[src_name]
            options = dict(max_blur_px=max_blur_px)
            if variety == 'wide':
                # every fourth training clip films a procedural scene instead (test clips
                # keep to their held-out images)
                if split == 'train' and i % 4 == 3:
                    src_name = 'procedural'
                    image = procedural_image(rng, (max(512, 2 * size[0]), max(512, 2 * size[1])))
                options = sample_clip_options(rng, max_blur_px, [images[n] for n in pool])
            blurry, sharp = synthesize_clip(image, rng, num_frames, size, subframes, **options)
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
