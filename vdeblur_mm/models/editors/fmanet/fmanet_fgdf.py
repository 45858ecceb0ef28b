# Adapted from KAIST-VICLab/FMA-Net (model.py), MIT; THIRD_PARTY.md
"""Flow-guided dynamic filtering (FGDF), FMA-Net's one filtering op, without materialised unfolds.

FGDF first backward-warps every frame of a clip towards the centre frame with its own per-pixel
flow (and multiplies it by a sigmoid mask), then filters the warped clip with position-wise
kernels that span all T frames:

- **degradation** (:func:`fgdf_downsample`, NetD's reconstruction of the blurry LR centre frame
  from the sharp HR clip): kd x kd kernels with stride ``scale``, one softmax jointly over the
  T * kd^2 weights of every LR pixel, replicate padding ``(kd - scale) // 2``, and the result
  divided by the same filtering of the warped occlusion map (the warped ones times the mask).
- **restoration** (:func:`fgdf_upsample`, NetR's x``scale`` output): for every output sub-pixel
  (s1, s2), T * kr^2 weights normalised as ``k - mean(k) + 1 / (T * kr^2)`` (they sum to one,
  no softmax), replicate padding ``kr // 2``.

The official code unfolds the inputs: for one 180x320 LR frame the downsampling unfold alone
is 207 M floats, and the upsampling multiplies a 829 MB broadcast product. Here both filters are
sums over kernel offsets of strided views (the HR frames seen as ``scale x scale`` blocks for
the downsampling), computed by two autograd functions that save only their inputs: memory
stays at the size of the inputs and the output, in training too.

Layouts are frames-major, mmagic's ``(n, t, c, h, w)`` (the official code is channel-first,
``(n, c, t, h, w)``): clips ``(n, t, c, h, w)``; degradation kernels ``(n, t, kd*kd, h, w)`` with
channel ``k1 * kd + k2`` for the tap at row ``k1``, column ``k2``; restoration kernels
``(n, t, s*s*kr*kr, h, w)`` with channel ``((s1 * s + s2) * kr + k1) * kr + k2`` writing output
pixel ``(s*y + s1, s*x + s2)``; flow-mask maps ``(n, t, 3, h, w)`` = (dx, dy, mask logit) in
pixels of the map they are given at.
"""
import torch
import torch.nn.functional as F
from mmagic.models.utils import flow_warp
from torch.autograd.function import once_differentiable

# the official normaliser's guard against an all-occluded window
OCCLUSION_EPS = 1e-8


# ---------------------------------------------------------------------------- warping
def warp_clip(frames, flow_mask, scale=1):
    """Backward-warp every frame of a clip with its flow and weight it by the sigmoid mask.

    Args:
        frames (Tensor): (n, t, c, s*h, s*w).
        flow_mask (Tensor): (n, t, 3, h, w): flow (dx, dy) and mask logit per frame. With
            ``scale`` > 1 the flow is upsampled bilinearly (align_corners False) and multiplied by
            ``scale``, the sigmoid mask upsampled the same way, as the official ``ImageBWarp``.
        scale (int): Size of ``frames`` over the size of ``flow_mask``. Default: 1.

    Returns:
        tuple[Tensor, Tensor]: the occlusion map (n, t, 1, s*h, s*w) (warped ones times the mask)
        and the warped frames times the mask (n, t, c, s*h, s*w). Samples outside the frame read
        zeros.
    """
    n, t, c, hh, ww = frames.shape
    if flow_mask.dim() != 5 or flow_mask.shape[:3] != (n, t, 3) or (
            flow_mask.shape[3] * scale, flow_mask.shape[4] * scale) != (hh, ww):
        raise ValueError(f'flow_mask must have shape (n, t, 3, h, w) = ({n}, {t}, 3, {hh}/{scale}'
                         f', {ww}/{scale}) for frames {tuple(frames.shape)}, got '
                         f'{tuple(flow_mask.shape)}')
    fm = flow_mask.flatten(0, 1)
    flow, mask = fm[:, :2], torch.sigmoid(fm[:, 2:3])
    if scale != 1:
        flow = scale * F.interpolate(flow, scale_factor=scale, mode='bilinear',
                                     align_corners=False)
        mask = F.interpolate(mask, scale_factor=scale, mode='bilinear', align_corners=False)
    x = frames.flatten(0, 1)
    # the ones are warped with the frames: one grid_sample for both
    warped = flow_warp(torch.cat([x, torch.ones_like(x[:, :1])], 1), flow.permute(0, 2, 3, 1))
    warped = (warped * mask).unflatten(0, (n, t))
    return warped[:, :, c:], warped[:, :, :c]


# ---------------------------------------------------------------------------- the two filters
class _BlockDynamicFilter(torch.autograd.Function):
    """y[c, y, x] = sum_{t, a, i, b, j} w[t, a, i, b, j, y, x] * xb[t, c, y + a, i, x + b, j].

    ``xb`` are the padded frames seen as ``s x s`` blocks: (n, t, c, h + A - 1, s, w + A - 1, s);
    ``w`` the kernels (n, t, A, s, A, s, h, w) of size A * s. Forward and backward loop over the
    A * A block offsets; only the inputs are saved.
    """

    @staticmethod
    def forward(ctx, xb, w):
        n, c = xb.shape[0], xb.shape[2]
        a_taps, h, wd = w.shape[2], w.shape[-2], w.shape[-1]
        out = xb.new_zeros(n, c, h, wd)
        for a in range(a_taps):
            for b in range(a_taps):
                out += torch.einsum('ntchiwj,ntijhw->nchw', xb[:, :, :, a:a + h, :, b:b + wd],
                                    w[:, :, a, :, b])
        ctx.save_for_backward(xb, w)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        xb, w = ctx.saved_tensors
        a_taps, h, wd = w.shape[2], w.shape[-2], w.shape[-1]
        grad_x = torch.zeros_like(xb) if ctx.needs_input_grad[0] else None
        grad_w = torch.empty_like(w) if ctx.needs_input_grad[1] else None
        for a in range(a_taps):
            for b in range(a_taps):
                if grad_x is not None:
                    grad_x[:, :, :, a:a + h, :, b:b + wd] += torch.einsum(
                        'nchw,ntijhw->ntchiwj', grad, w[:, :, a, :, b])
                if grad_w is not None:
                    grad_w[:, :, a, :, b] = torch.einsum(
                        'nchw,ntchiwj->ntijhw', grad, xb[:, :, :, a:a + h, :, b:b + wd])
        return grad_x, grad_w


class _ShiftDynamicFilter(torch.autograd.Function):
    """y[c, s, y, x] = sum_{t, k1, k2} w[t, s, k1, k2, y, x] * xp[t, c, y + k1, x + k2].

    ``xp`` (n, t, c, h + k - 1, w + k - 1) padded frames, ``w`` (n, t, S, k, k, h, w) kernels of
    S outputs per pixel; loops over the k * k offsets, saves only the inputs.
    """

    @staticmethod
    def forward(ctx, xp, w):
        n, c = xp.shape[0], xp.shape[2]
        taps, h, wd = w.shape[3], w.shape[-2], w.shape[-1]
        out = xp.new_zeros(n, c, w.shape[2], h, wd)
        for k1 in range(taps):
            for k2 in range(taps):
                out += torch.einsum('ntshw,ntchw->ncshw', w[:, :, :, k1, k2],
                                    xp[:, :, :, k1:k1 + h, k2:k2 + wd])
        ctx.save_for_backward(xp, w)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        xp, w = ctx.saved_tensors
        taps, h, wd = w.shape[3], w.shape[-2], w.shape[-1]
        grad_x = torch.zeros_like(xp) if ctx.needs_input_grad[0] else None
        grad_w = torch.empty_like(w) if ctx.needs_input_grad[1] else None
        for k1 in range(taps):
            for k2 in range(taps):
                if grad_x is not None:
                    grad_x[:, :, :, k1:k1 + h, k2:k2 + wd] += torch.einsum(
                        'ncshw,ntshw->ntchw', grad, w[:, :, :, k1, k2])
                if grad_w is not None:
                    grad_w[:, :, :, k1, k2] = torch.einsum(
                        'ncshw,ntchw->ntshw', grad, xp[:, :, :, k1:k1 + h, k2:k2 + wd])
        return grad_x, grad_w


def dynamic_downsample(frames, kernels, occlusion, kernel_size, scale):
    """Degradation filter: warped HR clip -> one LR frame (official ``DynamicDownsampling``).

    Args:
        frames (Tensor): Warped HR frames (n, t, c, s*h, s*w).
        kernels (Tensor): Kernel logits (n, t, kd*kd, h, w), channel ``k1 * kd + k2``.
        occlusion (Tensor): Warped occlusion map (n, t, 1, s*h, s*w) (the official code filters
            a c-channel copy of it; every channel is the same).
        kernel_size (int): kd, a multiple of ``scale`` with ``kd - scale`` even (20 for x4).
        scale (int): The stride s.

    Returns:
        Tensor: (n, c, h, w): the softmax-weighted sum over the T * kd^2 taps (replicate
        padding ``(kd - s) / 2``), divided by the same sum of the occlusion map plus 1e-8.
    """
    n, t, c, hh, ww = frames.shape
    kk = kernel_size * kernel_size
    if kernel_size % scale or (kernel_size - scale) % 2:
        raise ValueError(f'the degradation kernel size ({kernel_size}) must be a multiple of the '
                         f'scale ({scale}) with an even difference, e.g. 20 for x4')
    h, w = hh // scale, ww // scale
    if kernels.shape != (n, t, kk, h, w) or (h * scale, w * scale) != (hh, ww):
        raise ValueError(f'degradation kernels must have shape (n, t, kd*kd, h, w) = '
                         f'({n}, {t}, {kk}, {hh}/{scale}, {ww}/{scale}) for frames '
                         f'{tuple(frames.shape)}, got {tuple(kernels.shape)}')
    if occlusion.shape != (n, t, 1, hh, ww):
        raise ValueError(f'occlusion must have shape {(n, t, 1, hh, ww)}, got '
                         f'{tuple(occlusion.shape)}')
    pad = (kernel_size - scale) // 2
    taps = kernel_size // scale
    x = torch.cat([frames, occlusion], 2).flatten(0, 1)
    x = F.pad(x, (pad, pad, pad, pad), mode='replicate')
    xb = x.view(n, t, c + 1, h + taps - 1, scale, w + taps - 1, scale)
    # one softmax over all t * kd^2 weights of a pixel
    weights = torch.softmax(kernels.reshape(n, t * kk, h, w), dim=1)
    weights = weights.view(n, t, taps, scale, taps, scale, h, w)
    out = _BlockDynamicFilter.apply(xb, weights)
    return out[:, :c] / (out[:, c:] + OCCLUSION_EPS)


def dynamic_upsample(frames, kernels, kernel_size, scale):
    """Restoration filter: warped LR clip -> one HR frame (official ``DynamicUpampling``).

    Args:
        frames (Tensor): Warped LR frames (n, t, c, h, w).
        kernels (Tensor | callable): Kernels (n, t, s*s*kr*kr, h, w), channel
            ``((s1 * s + s2) * kr + k1) * kr + k2``, or a function ``i -> (n, s*s*kr*kr, h, w)``
            giving one frame's kernels at a time (inference: the t * s^2 * kr^2-channel map is
            never whole), or ``i ->`` an iterable of ``(c0, chunk)`` pairs: the channels
            ``c0 : c0 + chunk.shape[1]`` of that frame's kernels (whole sub-pixels: multiples
            of kr^2), one chunk at a time. They are normalised to ``k - mean(k) + 1/K`` over
            the K = t * kr^2 weights of each output sub-pixel.
        kernel_size (int): kr (odd).
        scale (int): s.

    Returns:
        Tensor: (n, c, s*h, s*w).
    """
    n, t, c, h, w = frames.shape
    if kernel_size % 2 == 0:
        raise ValueError(f'the restoration kernel size must be odd, got {kernel_size}')
    ss, kk = scale * scale, kernel_size * kernel_size
    if torch.is_tensor(kernels) and kernels.shape != (n, t, ss * kk, h, w):
        raise ValueError(f'restoration kernels must have shape (n, t, s*s*kr*kr, h, w) = '
                         f'{(n, t, ss * kk, h, w)}, got {tuple(kernels.shape)}')
    kernel_fn = kernels.unbind(1).__getitem__ if torch.is_tensor(kernels) else kernels
    pad = kernel_size // 2
    # the filter, the mean of the weights and the window sums are all sums over the frames;
    # sum_j (k_j - mean + 1/K) x_j = sum_j k_j x_j + (1/K - mean) * sum_j x_j: the normalised
    # kernels are never materialised
    out = frames.new_zeros(n, c, ss, h, w)
    mean = frames.new_zeros(n, ss, h, w)
    box = None
    for i in range(t):
        k_i = kernel_fn(i)
        if torch.is_tensor(k_i) and k_i.shape != (n, ss * kk, h, w):
            raise ValueError(f'restoration kernels of one frame must have shape '
                             f'{(n, ss * kk, h, w)}, got {tuple(k_i.shape)}')
        chunks = [(0, k_i)] if torch.is_tensor(k_i) else k_i
        del k_i
        xp = F.pad(frames[:, i], (pad, pad, pad, pad), mode='replicate')
        for c0, chunk in chunks:
            if c0 % kk or chunk.shape[1] % kk or chunk.shape[2:] != (h, w):
                raise ValueError(f'restoration kernel chunks must hold whole sub-pixels '
                                 f'({kk} channels each) of {h}x{w} maps, got channels {c0}:'
                                 f'{c0 + chunk.shape[1]} of shape {tuple(chunk.shape)}')
            s0, s1 = c0 // kk, (c0 + chunk.shape[1]) // kk
            k = chunk.reshape(n, 1, s1 - s0, kernel_size, kernel_size, h, w)
            part = _ShiftDynamicFilter.apply(xp[:, None], k)
            m = chunk.reshape(n, s1 - s0, kk, h, w).mean(2)
            if torch.is_grad_enabled():  # out of place: autograd records the sums
                out = out.index_add(2, torch.arange(s0, s1, device=out.device), part)
                mean = mean.index_add(1, torch.arange(s0, s1, device=mean.device), m)
            else:
                out[:, :, s0:s1] += part
                mean[:, s0:s1] += m
            del chunk, k, part, m
        b = F.avg_pool2d(xp, kernel_size, stride=1) * kk  # sum over the kr^2 taps
        box = b if box is None else box + b
    out = out + (1.0 / (t * kk) - mean / t)[:, None] * box[:, :, None]
    return F.pixel_shuffle(out.reshape(n, c * ss, h, w), scale)


def fgdf_downsample(hr_frames, flow_mask, kernels, kernel_size, scale):
    """FGDF degradation: warp the HR clip to its centre frame with the LR flow-mask maps
    (upsampled x``scale``), then :func:`dynamic_downsample`.

    Returns:
        tuple[Tensor, Tensor]: the reconstructed blurry LR centre frame (n, c, h, w) and the
        warped, masked HR clip (n, t, c, s*h, s*w) (for the HR warping loss).
    """
    occlusion, warped = warp_clip(hr_frames, flow_mask, scale)
    return dynamic_downsample(warped, kernels, occlusion, kernel_size, scale), warped


def fgdf_upsample(lr_frames, flow_mask, kernels, kernel_size, scale):
    """FGDF restoration: warp the LR clip to its centre frame, then :func:`dynamic_upsample`
    (``kernels`` a tensor or a per-frame function, as there).

    Returns:
        tuple[Tensor, Tensor]: the upsampled centre frame (n, c, s*h, s*w) and the warped,
        masked LR clip (n, t, c, h, w) (for the LR warping loss).
    """
    _, warped = warp_clip(lr_frames, flow_mask, 1)
    return dynamic_upsample(warped, kernels, kernel_size, scale), warped
