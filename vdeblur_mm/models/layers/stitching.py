"""The one way this package runs a video model over a whole video: overlapping temporal chunks,
overlapping spatial tiles, one blending rule.

Every model wrapper (through ``VideoDeblurEditor``), ``tools/test.py``, ``tools/deblur_video.py``
and the inferencer go through :class:`VideoStitcher`, so the same model, settings and input
give the same frames whichever entry point runs it.

Two declarations drive it:

- :class:`InferenceSpec`, the model's *contract* (what it can take): ``mode`` ('sequence': T
  frames in, T out; 'window': ``window_frames`` in, the centre frame out; 'clip': exactly
  ``window_frames`` in and out), ``size_multiple`` and ``min_size`` (H and W are padded up to
  them and the output cropped back), ``scale`` (output / input size) and an optional default
  ``chunk_frames``.
- :class:`StitchSettings`, how to cut a video (what the user chooses): chunk length and overlap,
  tile size and overlap, the blending rule, fp16 autocast, windows per call, temporal padding.

Blending (``blend``), the same rule in time and in space: 'trim' (default) takes every frame /
pixel from exactly one chunk / tile, the boundary ``overlap // 2`` items before the end of the
earlier one (so each side of a boundary has context: ``overlap // 2`` items on one side,
``overlap - overlap // 2`` on the other; the last chunk/tile, aligned to the end, takes over
where the previous one stopped); 'average' averages every overlap uniformly. The last
chunk/tile always ends at the video end / frame edge, so every chunk has ``chunk_frames``
frames and every tile ``tile`` pixels when the video is large enough.
"""
from dataclasses import asdict, dataclass, fields
from itertools import islice
from typing import Callable, Iterable, Iterator, Optional

import torch

from .video import pad_to_multiple, sliding_window, tile_starts

MODES = ('sequence', 'window', 'clip')
BLENDS = ('trim', 'average')


@dataclass(frozen=True)
class InferenceSpec:
    """What a model needs at inference (see the module docstring)."""
    mode: str
    window_frames: Optional[int] = None
    size_multiple: int = 1
    min_size: int = 1
    scale: int = 1
    chunk_frames: Optional[int] = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f'inference_spec mode must be one of {MODES}, got {self.mode!r}')
        if self.mode in ('window', 'clip') and not self.window_frames:
            raise ValueError(f"inference_spec mode {self.mode!r} needs window_frames, got {self}")
        if self.mode == 'window' and self.window_frames % 2 == 0:
            raise ValueError(f'a window model needs an odd window_frames, got {self}')
        for name in ('size_multiple', 'min_size', 'scale'):
            if int(getattr(self, name)) < 1:
                raise ValueError(f'inference_spec {name} must be >= 1, got {self}')

    @classmethod
    def from_dict(cls, spec):
        known = {f.name for f in fields(cls)}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f'unknown inference_spec keys {sorted(unknown)}; known: '
                             f'{sorted(known)}')
        return cls(**spec)

    def as_dict(self):
        return asdict(self)

    def __getitem__(self, key):  # spec['mode'], as the former dict contract
        return getattr(self, key)


def resolve_inference_spec(model, declared=None):
    """The contract of any model: ``test_cfg['inference_spec']`` of its config updates what the
    model declares (``declared``, else its ``inference_spec``, else its generator's).

    Raises:
        ValueError: nothing declares a mode: running it would guess how many frames it takes.
    """
    if declared is None:
        declared = getattr(model, 'inference_spec', None)
    if declared is None:
        declared = getattr(getattr(model, 'generator', None), 'inference_spec', None)
    spec = dict(declared.as_dict() if isinstance(declared, InferenceSpec) else declared or {})
    spec.update((getattr(model, 'test_cfg', None) or {}).get('inference_spec') or {})
    if 'mode' not in spec:
        raise ValueError(
            f'{type(model).__name__} declares no inference contract: give it (or its '
            f"generator) an inference_spec, or set model.test_cfg=dict(inference_spec=dict("
            f"mode='sequence'|'window'|'clip', ...)) in the config")
    return InferenceSpec.from_dict(spec)


@dataclass(frozen=True)
class StitchSettings:
    """How a video is cut for a model (see the module docstring).

    ``chunk_overlap`` frames are shared by consecutive chunks; for window models
    :meth:`resolve` sets it to ``window_frames - 1`` (every kept frame then sees its true
    neighbours) and the temporal blend is 'trim' (each frame has exactly one full window).
    ``tile`` None (or 0 in :meth:`resolve`) processes whole frames. ``window_batch`` is the
    number of windows per network call of a window model; ``temporal_padding`` ('replicate' or
    'reflection') fills a window beyond the video ends.
    """
    chunk_frames: int = 30
    chunk_overlap: int = 4
    tile: Optional[int] = None
    tile_overlap: int = 32
    blend: str = 'trim'
    amp: bool = False
    window_batch: int = 4
    temporal_padding: str = 'replicate'

    def __post_init__(self):
        if self.chunk_frames < 1 or not 0 <= self.chunk_overlap < self.chunk_frames:
            raise ValueError('need chunk_frames >= 1 and 0 <= chunk_overlap < chunk_frames, got '
                             f'{self.chunk_frames} and {self.chunk_overlap}')
        if self.tile is not None and not 0 <= self.tile_overlap < self.tile:
            raise ValueError(f'need 0 <= tile_overlap < tile, got {self.tile_overlap} and '
                             f'{self.tile}')
        if self.blend not in BLENDS:
            raise ValueError(f'blend must be one of {BLENDS}, got {self.blend!r}')
        if self.window_batch < 1:
            raise ValueError(f'window_batch must be >= 1, got {self.window_batch}')
        if self.temporal_padding not in ('replicate', 'reflection'):
            raise ValueError("temporal_padding must be 'replicate' or 'reflection', got "
                             f'{self.temporal_padding!r}')

    @classmethod
    def resolve(cls, spec, test_cfg=None, model_defaults=None, **overrides):
        """Defaults < the model's own defaults (e.g. its paper's test procedure) < the spec's
        ``chunk_frames`` < the config's ``test_cfg`` < ``overrides`` (command-line values;
        None means 'not given')."""
        names = {f.name for f in fields(cls)}
        values = dict(model_defaults or {})
        if spec.chunk_frames:
            values['chunk_frames'] = spec.chunk_frames
        values.update({k: v for k, v in (test_cfg or {}).items() if k in names})
        unknown = set(overrides) - names
        if unknown:
            raise TypeError(f'unknown stitching settings {sorted(unknown)}; known: '
                            f'{sorted(names)}')
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get('tile') == 0:  # 0: whole frames (None already means 'not given')
            values['tile'] = None
        if spec.mode == 'clip':
            values['chunk_frames'] = spec.window_frames
            values['chunk_overlap'] = min(values.get('chunk_overlap', cls.chunk_overlap),
                                          spec.window_frames - 1)
        elif spec.mode == 'window':
            # exactly the context a window needs: more would restore nothing new
            values['chunk_overlap'] = spec.window_frames - 1
            values['chunk_frames'] = max(values.get('chunk_frames', cls.chunk_frames),
                                         spec.window_frames)
        return cls(**values)


def kept_range(start, size, keep_from, last, overlap):
    """The global ``[from, to)`` that a chunk/tile ``[start, start + size)`` contributes under
    'trim': from where the previous one stopped (``keep_from``) to ``overlap // 2`` items
    before its own end (to its end if it is the last)."""
    return keep_from, start + size if last else start + size - overlap // 2


def stitch_tiles(run_tile, h, w, tile, overlap, scale=1, blend='trim'):
    """Run ``run_tile(y0, x0, th, tw)`` (output ``(..., th*scale, tw*scale)``) on overlapping
    tiles of an ``h``×``w`` frame and blend the results into ``(..., h*scale, w*scale)``."""
    if tile is None or (h <= tile and w <= tile):
        return run_tile(0, 0, h, w)
    th, tw = min(tile, h), min(tile, w)
    s = scale

    def ranges(starts, size):  # kept [from, to) of every tile along one axis
        out, done = [], 0
        for k, start in enumerate(starts):
            out.append(kept_range(start, size, done, k == len(starts) - 1, overlap))
            done = out[-1][1]
        return out

    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    y_kept, x_kept = ranges(ys, th), ranges(xs, tw)
    out = weight = None
    for y0, (ya, yb) in zip(ys, y_kept):
        for x0, (xa, xb) in zip(xs, x_kept):
            patch = run_tile(y0, x0, th, tw)
            if out is None:
                out = patch.new_zeros(*patch.shape[:-2], h * s, w * s)
                weight = patch.new_zeros(h * s, w * s) if blend == 'average' else None
            if blend == 'trim':  # every pixel from exactly one tile
                out[..., ya * s:yb * s, xa * s:xb * s] = \
                    patch[..., (ya - y0) * s:(yb - y0) * s, (xa - x0) * s:(xb - x0) * s]
            else:
                out[..., y0 * s:(y0 + th) * s, x0 * s:(x0 + tw) * s] += patch
                weight[y0 * s:(y0 + th) * s, x0 * s:(x0 + tw) * s] += 1
    return out if weight is None else out / weight


def stitch_chunks(items, restore_chunk, chunk, overlap, blend='trim'):
    """Stream ``items`` (frames, or frame indices) through overlapping chunks.

    Args:
        items (Iterable): The video, item by item; read ahead by at most one chunk.
        restore_chunk (callable): ``restore_chunk(chunk_items, needed)`` returns the outputs
            ``(n, len(needed), ...)`` of the chunk's positions ``needed`` (those it
            contributes: all of them for 'average').
        chunk (int): Items per chunk (fewer only when the video is shorter).
        overlap (int): Items shared by consecutive chunks.
        blend (str): 'trim' or 'average' (module docstring).

    Yields:
        Tensor: The output ``(n, ...)`` of each item, in order.
    """
    it = iter(items)
    buf = list(islice(it, chunk))
    start = done = 0  # global index of buf[0]; items before `done` are final ('trim')
    acc, count = {}, {}
    while buf:
        ahead = list(islice(it, chunk - overlap))
        last = not ahead
        if blend == 'trim':
            keep_from, keep_to = kept_range(start, len(buf), done, last, overlap)
            needed = list(range(keep_from - start, keep_to - start))
        else:
            needed = list(range(len(buf)))
        out = restore_chunk(buf, needed)
        for k, i in enumerate(needed):
            g = start + i
            acc[g] = acc[g] + out[:, k] if g in acc else out[:, k]
            count[g] = count.get(g, 0) + 1
        if last:
            next_start = start + len(buf)
        else:
            # keep `overlap` frames of context, more when few are left, so that the last chunk
            # also holds `chunk` frames (it ends at the video end, as tile_starts does)
            keep = min(max(overlap, chunk - len(ahead)), len(buf))
            next_start = start + len(buf) - keep
            buf = buf[len(buf) - keep:] + ahead
        final = start + needed[-1] + 1 if blend == 'trim' else next_start
        for g in range(done, final):
            total = count.pop(g)
            value = acc.pop(g)
            yield value if total == 1 else value / total
        start, done = next_start, final
        if last:
            return


def chunk_spans(length, chunk, overlap):
    """``(start, keep_from, keep_to)`` of every chunk of a ``length``-frame video under the
    'trim' rule: the chunk ``[start, start + chunk)`` contributes its positions
    ``[keep_from, keep_to)``, and every frame comes from exactly one chunk. This describes
    what :func:`stitch_chunks` does, without running a model."""
    starts = tile_starts(length, chunk, overlap)
    spans, done = [], 0
    for k, s in enumerate(starts):
        a, b = kept_range(s, min(chunk, length), done, k == len(starts) - 1, overlap)
        spans.append((s, a - s, b - s))
        done = b
    return spans


class VideoStitcher:
    """Runs a network over whole videos of any length and size, chunk by chunk and tile by tile.

    Args:
        spec (InferenceSpec): The model's contract.
        settings (StitchSettings): How to cut the video.
        run_network (callable): ``run_network(x, context)`` on a padded tile of a chunk,
            ``x`` (n, t, c, h, w) -> (n, t, c, h*scale, w*scale) ('sequence'/'clip') or a
            window (n, N, c, h, w) -> its centre frame (n, c, h*scale, w*scale) ('window').
        prepare_chunk (callable, optional): ``prepare_chunk(x) -> context`` once per padded
            chunk before tiling (e.g. optical flows on whole frames). Default: no context.
        crop_context (callable, optional): ``crop_context(context, y0, x0, th, tw)``: the
            context of one tile. Default: the context unchanged.
        run_centre (callable, optional): ``run_centre(x, context)``: only the centre frame
            (n, c, h', w') of a padded tile of one clip, for models that can skip the other
            frames. Default: the centre of ``run_network``'s output.
    """

    def __init__(self, spec: InferenceSpec, settings: StitchSettings, run_network: Callable,
                 prepare_chunk: Optional[Callable] = None,
                 crop_context: Optional[Callable] = None,
                 run_centre: Optional[Callable] = None):
        self.spec = spec
        self.settings = settings
        self.run_network = run_network
        self.prepare_chunk = prepare_chunk or (lambda x: None)
        self.crop_context = crop_context or (lambda ctx, *box: ctx)
        self.run_centre = run_centre
        s = settings
        if s.tile is not None:
            if s.tile < spec.min_size:
                raise ValueError(f"tile {s.tile} is smaller than the model's minimum input size "
                                 f'{spec.min_size}')
            if s.tile % spec.size_multiple or s.tile_overlap % spec.size_multiple:
                raise ValueError(f'tile ({s.tile}) and tile_overlap ({s.tile_overlap}) must be '
                                 f'multiples of the model size multiple {spec.size_multiple}')
        if spec.mode == 'window':
            if s.chunk_overlap < spec.window_frames - 1:
                raise ValueError(f'a window model of {spec.window_frames} frames needs a chunk '
                                 f'overlap of {spec.window_frames - 1}, got {s.chunk_overlap} '
                                 f'(StitchSettings.resolve sets it)')
            self.temporal_blend = 'trim'  # each frame from its one full window
        else:
            self.temporal_blend = s.blend
        self.chunk_frames, self.chunk_overlap = s.chunk_frames, s.chunk_overlap

    # ------------------------------------------------------------------ one chunk
    def _network(self, x, context, fn=None):
        amp = self.settings.amp and x.is_cuda
        with torch.autocast('cuda', dtype=torch.float16, enabled=amp):
            return (fn or self.run_network)(x, context).float()

    @torch.no_grad()
    def restore_chunk(self, x, needed=None, centre_only=False):
        """Frames ``needed`` (positions; default all) of one chunk x (n, t, c, h, w):
        padded, tiled, cropped back -> (n, len(needed), c, h*scale, w*scale). With
        ``centre_only`` and a ``run_centre``, only the centre frame is computed."""
        spec, s = self.spec, self.settings
        t = x.shape[1]
        needed = list(range(t)) if needed is None else list(needed)
        centre_fn = self.run_centre if centre_only else None
        if spec.mode == 'clip' and t < spec.window_frames:
            # a video shorter than the clip: repeat its last frame, then drop the repeats
            x = torch.cat([x, x[:, -1:].expand(-1, spec.window_frames - t, *x.shape[2:])], 1)
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, spec.size_multiple, spec.min_size)
        context = self.prepare_chunk(x)

        def run_tile(y0, x0, th, tw):
            tile = x[..., y0:y0 + th, x0:x0 + tw]
            ctx = self.crop_context(context, y0, x0, th, tw)
            if centre_fn is not None:
                return self._network(tile, ctx, centre_fn)[:, None]
            if spec.mode == 'window':
                return sliding_window(lambda win: self._network(win, ctx), tile,
                                      spec.window_frames, s.window_batch, s.temporal_padding,
                                      centres=needed)
            return self._network(tile, ctx)[:, needed]

        out = stitch_tiles(run_tile, *x.shape[-2:], s.tile, s.tile_overlap, spec.scale, s.blend)
        return out[..., :h * spec.scale, :w * spec.scale]

    # ------------------------------------------------------------------ whole videos
    def restore_stream(self, frames: Iterable, to_tensor: Callable) -> Iterator[torch.Tensor]:
        """Yield the restored (n, c, H, W) output of every item of ``frames``, in order;
        ``to_tensor(list_of_items)`` makes a chunk (n, t, c, h, w). Memory is bounded by
        ``chunk_frames`` (and ``tile``) whatever the video's length."""
        def restore(items, needed):
            return self.restore_chunk(to_tensor(items), needed)
        return stitch_chunks(frames, restore, self.chunk_frames, self.chunk_overlap,
                             self.temporal_blend)

    def restore_video(self, x):
        """Whole clips (n, T, c, h, w) -> (n, T, c, h*scale, w*scale)."""
        if x.dim() != 5:
            raise ValueError(f'expected clips of shape (n, t, c, h, w), got {tuple(x.shape)}')
        frames = self.restore_stream(range(x.shape[1]), lambda idx: x[:, idx[0]:idx[-1] + 1])
        return torch.stack(list(frames), dim=1)

    def restore_window(self, x):
        """The restored centre frame (n, c, h', w') of one window/clip x (n, t, c, h, w)."""
        if self.spec.mode == 'window' and x.shape[1] != self.spec.window_frames:
            raise ValueError(f'expected a window of {self.spec.window_frames} frames, got '
                             f'{x.shape[1]}')
        return self.restore_chunk(x, [x.shape[1] // 2], centre_only=True)[:, 0]
