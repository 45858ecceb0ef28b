"""Compatibility fixes for today's numpy / torch / setuptools under mmagic 1.2.0, mmengine 0.10.7.

Every fix here is applied once by :func:`apply` (called on ``import vdeblur_mm`` and by ``tools/``
before mmagic is imported). Each one names what it fixes. This module imports nothing of ours.
"""
import functools
import warnings

import numpy as np
import torch

_APPLIED = False


def _numpy_aliases():
    # numpy 2 removed ``np.bool8``; mmagic/utils/trans_utils.py uses it at import time
    # (``AttributeError: module 'numpy' has no attribute 'bool8'`` on ``import mmagic.utils``).
    if not hasattr(np, 'bool8'):
        np.bool8 = np.bool_


def _checkpoint_safe_globals():
    # torch>=2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7 calls
    # ``torch.load`` without the argument. Its checkpoints carry the message hub (HistoryBuffer
    # objects holding numpy arrays and scalars), so ``load_from``/``--resume`` fail with
    # "Weights only load failed". Instead of switching the check off we allow exactly the
    # classes mmengine checkpoints contain.
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch<2.4 has no weights_only default to worry about
        return
    from mmengine.logging.history_buffer import HistoryBuffer
    safe = [HistoryBuffer, np.ndarray, np.dtype]
    core = getattr(np, '_core', None) or np.core
    safe += [core.multiarray._reconstruct, core.multiarray.scalar]
    # numpy>=1.25 pickles dtypes by their class (np.dtypes.Float64DType, ...)
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    add(safe)


def _quiet_known_warnings():
    # diffusers 0.24 (imported by mmagic.models) registers its output classes with torch's
    # deprecated ``_register_pytree_node``: a FutureWarning at every start, twice, that users
    # cannot act on. Silenced by message and module only; other FutureWarnings still show.
    warnings.filterwarnings('ignore', message=r'`torch\.utils\._pytree\._register_pytree_node` '
                            r'is deprecated', category=FutureWarning,
                            module=r'diffusers\.utils\.outputs')


def _history_buffer_pickling():
    # mmengine 0.10.7 ``HistoryBuffer.__getstate__`` pickles its statistics functions
    # (``getattr(HistoryBuffer, 'min')`` ...) into every Runner checkpoint, and ``getattr`` can
    # never be a safe global, so even with the classes above a weights-only ``torch.load`` of an
    # ``iter_*.pth`` fails. The four default methods are re-registered by ``__setstate__`` anyway:
    # pickle only custom ones (and stop adding them to the live object's ``__dict__``).
    from mmengine.logging.history_buffer import HistoryBuffer
    if getattr(HistoryBuffer.__getstate__, '_vdeblur_patched', False):
        return

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop('statistics_methods', None)
        custom = {name: fn for name, fn in self._statistics_methods.items()
                  if getattr(HistoryBuffer, name, None) is not fn}
        if custom:
            state['statistics_methods'] = custom
        return state

    __getstate__._vdeblur_patched = True
    HistoryBuffer.__getstate__ = __getstate__


def _cpu_distributed_init():
    # mmengine 0.10.7 ``_init_dist_pytorch`` calls ``torch.cuda.set_device`` unconditionally, so
    # ``--launcher pytorch`` cannot start on a machine without CUDA. Without CUDA we skip the
    # device selection and fall back from NCCL (GPU-only) to gloo.
    from mmengine.dist import utils as dist_utils
    original = dist_utils._init_dist_pytorch
    if getattr(original, '_vdeblur_patched', False):
        return

    @functools.wraps(original)
    def init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            warnings.warn('CUDA is not available: using the gloo backend '
                          'instead of nccl for distributed training.')
            backend = 'gloo'
        torch.distributed.init_process_group(backend=backend, **kwargs)

    init_dist_pytorch._vdeblur_patched = True
    dist_utils._init_dist_pytorch = init_dist_pytorch


def adapt_cfg_for_cpu_distributed(cfg):
    """Make a config's distributed settings usable on a CPU-only machine.

    DDP rejects ``device_ids`` for CPU modules, and mmengine passes ``[LOCAL_RANK]`` by default;
    NCCL needs GPUs. On a CUDA machine the config is left untouched.
    """
    if torch.cuda.is_available() or cfg.get('launcher', 'none') == 'none':
        return cfg
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    env = cfg.setdefault('env_cfg', {})
    dist_cfg = env.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
    return cfg


def apply():
    """Apply every fix (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    _numpy_aliases()
    _quiet_known_warnings()
    _checkpoint_safe_globals()
    _history_buffer_pickling()
    _cpu_distributed_init()
    _APPLIED = True
