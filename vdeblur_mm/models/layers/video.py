"""Running frame-window models over videos: sliding temporal windows, spatial padding."""
import torch
import torch.nn.functional as F


def pad_to_multiple(x, multiple, min_size=1):
    """Pad the last two dims of x (bottom/right) up to a multiple of ``multiple`` and at least
    ``min_size``.

    Reflect padding where the frame is large enough, replicate otherwise; crop the output back
    after the model.
    """
    h, w = x.shape[-2:]
    th = max(-(-h // multiple), -(-min_size // multiple)) * multiple
    tw = max(-(-w // multiple), -(-min_size // multiple)) * multiple
    ph, pw = th - h, tw - w
    if not ph and not pw:
        return x
    mode = 'reflect' if ph < h and pw < w else 'replicate'
    flat = F.pad(x.reshape(-1, *x.shape[-3:]), (0, pw, 0, ph), mode=mode)
    return flat.reshape(*x.shape[:-2], th, tw)


def window_indices(length, centre, window, padding='replicate'):
    """Frame indices of the ``window``-frame window centred on ``centre`` in a clip of ``length``.

    Indices outside the clip are replaced as the EDVR test script (``index_generation``) does:
    'replicate' repeats the first/last frame, 'reflection' mirrors around it (without repeating
    it; falls back to the nearest frame when the clip is too short to mirror).
    """
    if padding not in ('replicate', 'reflection'):
        raise ValueError(f"padding must be 'replicate' or 'reflection', got {padding!r}")
    half = window // 2
    last = length - 1
    out = []
    for i in range(centre - half, centre + half + 1):
        if padding == 'reflection':
            i = -i if i < 0 else (2 * last - i if i > last else i)
        out.append(min(max(i, 0), last))
    return out


def sliding_window(fn, x, window, window_batch=4, padding='replicate', centres=None):
    """Restore every frame of a clip with a window model.

    Args:
        fn (callable): Maps windows ``(k, window, c, h, w)`` to centre frames ``(k, c', h', w')``.
        x (Tensor): Clip of shape (n, t, c, h, w).
        window (int): Frames per window (odd).
        window_batch (int): Windows per call of ``fn`` (at least one clip's worth when n > 1:
            each call takes ``max(1, window_batch // n)`` centres of every clip). Default: 4.
        padding (str): 'replicate' (EDVR's test setting) or 'reflection'. Default: 'replicate'.
        centres (list[int], optional): Frames to restore; None restores all t frames.

    Returns:
        Tensor: Restored frames of shape (n, len(centres), c', h', w').
    """
    if x.dim() != 5:
        raise ValueError(f'expected a clip of shape (n, t, c, h, w), got {tuple(x.shape)}')
    if window < 1 or window % 2 == 0:
        raise ValueError(f'window must be a positive odd number, got {window}')
    n, t = x.shape[:2]
    centres = list(range(t)) if centres is None else list(centres)
    per_call = max(1, window_batch // n)
    outputs = []
    for start in range(0, len(centres), per_call):
        chunk = centres[start:start + per_call]
        idx = torch.tensor([window_indices(t, c, window, padding) for c in chunk],
                           device=x.device)
        windows = x[:, idx.flatten()].reshape(n * len(chunk), window, *x.shape[2:])
        out = fn(windows)
        outputs.append(out.reshape(n, len(chunk), *out.shape[1:]))
    return torch.cat(outputs, dim=1)


def tile_starts(length, tile, overlap):
    """Start offsets of ``tile``-sized tiles covering ``length``; the last one ends at the edge."""
    if tile >= length:
        return [0]
    stride = tile - overlap
    if stride <= 0:
        raise ValueError(f'tile overlap ({overlap}) must be smaller than the tile ({tile})')
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]
