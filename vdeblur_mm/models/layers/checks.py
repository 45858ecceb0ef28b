"""One input check for every module: a clear ValueError naming the tensor and the expected layout,
instead of a crash deep inside a kernel."""
from typing import Optional, Sequence

import torch

LAYOUTS = {3: '(c, h, w)', 4: '(n, c, h, w)', 5: '(n, t, c, h, w)'}


def check_tensor(x: torch.Tensor, name: str, ndim: int, layout: Optional[str] = None,
                 sizes: Optional[Sequence[Optional[int]]] = None) -> torch.Tensor:
    """Check that ``x`` has ``ndim`` dimensions and, where ``sizes`` gives an int, that size.

    Args:
        x (Tensor): The tensor to check.
        name (str): What it is, for the message (e.g. 'BSSTNet input', 'flows_forward').
        ndim (int): Expected number of dimensions.
        layout (str, optional): Layout for the message, e.g. '(n, t, 3, h, w)'. Default: the
            usual one for ``ndim``.
        sizes (Sequence[int | None], optional): Expected size per dimension, None for any.

    Returns:
        Tensor: ``x`` (so that calls can be chained).

    Raises:
        ValueError: ``x`` is not a tensor of that rank or size.
    """
    layout = layout or LAYOUTS.get(ndim, f'{ndim}-D')
    if not isinstance(x, torch.Tensor):
        raise ValueError(f'{name} must be a tensor {layout}, got {type(x).__name__}')
    if x.dim() != ndim:
        raise ValueError(f'{name} must have shape {layout}, got {tuple(x.shape)}')
    if sizes is not None:
        for dim, (got, want) in enumerate(zip(x.shape, sizes)):
            if want is not None and got != want:
                raise ValueError(f'{name} must have shape {layout} with size {want} in dim '
                                 f'{dim}, got {tuple(x.shape)}')
    return x


def check_video(x: torch.Tensor, name: str = 'input', channels: Optional[int] = None,
                min_frames: int = 1) -> torch.Tensor:
    """Check a clip ``(n, t, c, h, w)``: five dimensions, ``channels`` channels (if given) and
    at least ``min_frames`` frames."""
    layout = f'(n, t, {channels}, h, w)' if channels else '(n, t, c, h, w)'
    check_tensor(x, name, 5, layout, (None, None, channels, None, None))
    if x.shape[1] < min_frames:
        raise ValueError(f'{name} needs at least {min_frames} frames, got {x.shape[1]} '
                         f'(shape {tuple(x.shape)})')
    return x
