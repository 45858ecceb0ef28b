# Semantics of Chen-Rao/VD-Diff (wave_tf.py, kpn_pixel.py), MIT; THIRD_PARTY.md
"""VD-Diff's fixed Haar wavelet transform and its pixel-wise dynamic depthwise convolution.

Both are plain PyTorch (CPU and CUDA; the official dynamic convolution is a cupy CUDA kernel).
"""
import torch
import torch.nn.functional as F


def _check_even(x, name):
    if x.dim() != 4:
        raise ValueError(f'{name} expects (n, c, h, w), got {tuple(x.shape)}')
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        raise ValueError(f'{name}: height and width must be even, got '
                         f'{x.shape[-2]}x{x.shape[-1]} (pad the frames first)')


def haar_downsample(x):
    """One level of VD-Diff's Haar transform: (n, c, h, w) -> LL (n, c, h/2, w/2) and the
    high-frequency bands (n, 3c, h/2, w/2), laid out band by band (channel ``b * c + i``).

    With ``a b / c d`` the 2x2 block of a channel (rows, then columns), the official fixed
    depthwise filters divided by 4 give LL = (a+b+c+d)/4, then (a-b+c-d)/4 (columns),
    (a+b-c-d)/4 (rows) and (a-b-c+d)/4 (diagonal). :func:`haar_upsample` inverts it exactly.
    """
    _check_even(x, 'haar_downsample')
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    s_ab, s_cd, d_ab, d_cd = a + b, c + d, a - b, c - d
    ll = (s_ab + s_cd) / 4
    high = torch.cat([(d_ab + d_cd) / 4, (s_ab - s_cd) / 4, (d_ab - d_cd) / 4], 1)
    return ll, high


def haar_upsample(ll, high):
    """Inverse of :func:`haar_downsample` (the official ``conv_transpose2d`` with the same
    filters): LL (n, c, h, w) and bands (n, 3c, h, w) -> (n, c, 2h, 2w)."""
    n, c, h, w = ll.shape
    if high.shape != (n, 3 * c, h, w):
        raise ValueError(f'haar_upsample: the high-frequency bands must be (n, 3c, h, w) = '
                         f'{(n, 3 * c, h, w)} for LL {tuple(ll.shape)}, got {tuple(high.shape)}')
    col, row, diag = high.chunk(3, 1)
    out = ll.new_empty(n, c, 2 * h, 2 * w)
    out[..., 0::2, 0::2] = ll + col + row + diag
    out[..., 0::2, 1::2] = ll - col + row - diag
    out[..., 1::2, 0::2] = ll + col - row - diag
    out[..., 1::2, 1::2] = ll - col - row + diag
    return out


def pixel_dynamic_dwconv(x, kernels, kernel_size=3):
    """Pixel-wise dynamic depthwise convolution (VD-Diff's ``IDynamicDWConv`` op).

    ``out[n, c, y, x] = sum_{i,j} kernels[n, g(c) * k*k + i*k + j, y, x] *
    x[n, c, y + i - k//2, x + j - k//2]`` with zero padding: a correlation (no flip), stride 1,
    no bias or normalisation; channel ``c`` uses kernel group ``g(c) = c // (C / G)``.

    A loop over the k*k taps of shifted views (no unfold: memory stays at a few maps of the
    input's size; autograd saves views only).

    Args:
        x (Tensor): (n, C, h, w).
        kernels (Tensor): (n, G * k * k, h, w), G dividing C (G = C: one kernel per channel).
        kernel_size (int): k, odd. Default: 3.
    """
    if kernel_size % 2 == 0:
        raise ValueError(f'kernel_size must be odd, got {kernel_size}')
    if x.dim() != 4 or kernels.dim() != 4:
        raise ValueError(f'pixel_dynamic_dwconv expects x (n, C, h, w) and kernels '
                         f'(n, G*k*k, h, w), got {tuple(x.shape)} and {tuple(kernels.shape)}')
    n, c, h, w = x.shape
    kk = kernel_size * kernel_size
    groups = kernels.shape[1] // kk
    if kernels.shape[1] % kk or groups == 0 or c % groups or kernels.shape[0] != n or \
            kernels.shape[2:] != (h, w):
        raise ValueError(f'kernels must be (n, G*{kk}, {h}, {w}) with G dividing {c} for x '
                         f'{tuple(x.shape)}, got {tuple(kernels.shape)}')
    r = kernel_size // 2
    xp = F.pad(x, (r, r, r, r)).view(n, groups, c // groups, h + 2 * r, w + 2 * r)
    k = kernels.view(n, groups, 1, kk, h, w)
    out = None
    for i in range(kernel_size):
        for j in range(kernel_size):
            term = k[:, :, :, i * kernel_size + j] * xp[..., i:i + h, j:j + w]
            out = term if out is None else out.add_(term)
    return out.view(n, c, h, w)


__all__ = ['haar_downsample', 'haar_upsample', 'pixel_dynamic_dwconv']
