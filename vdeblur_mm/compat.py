"""Compatibility fixes for today's numpy / torch / third-party packages under mmagic 1.2.0 and
mmengine 0.10.7.

Every fix here is applied once by :func:`apply`: before mmagic's first import in any process (the
start-up hook, ``vdeblur_mm_startup``, loads this module on its own) and on ``import vdeblur_mm``.
Each one names what it fixes. This module imports nothing of ours: the hook runs it without
importing the package.
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
    # ``from mmagic.apis import MMagicInferencer`` imports controlnet_aux (for one inferencer of
    # mmagic's), which imports timm's deprecated module paths, re-registers five timm models
    # and reports mediapipe (another of that inferencer's extras) missing: ten warnings that
    # say nothing about video models. Silenced by message only; nothing else is affected.
    warnings.filterwarnings('ignore', message=r'Importing from timm\.models\.(layers|registry) '
                            r'is deprecated', category=FutureWarning)
    warnings.filterwarnings('ignore', message=r'Overwriting tiny_vit_\w+ in registry with '
                            r'controlnet_aux\.', category=UserWarning)
    warnings.filterwarnings('ignore', message=r"The module 'mediapipe' is not installed")


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


def _destroy_process_group_at_exit():
    # mmengine never destroys the process group it creates. A gloo group still alive when the
    # interpreter finalises has its worker threads destroyed while joinable, and the process
    # aborts ("terminate called without an active exception") after a run that succeeded,
    # intermittently (about 1 run in 8 with validation here), so the launcher reports a failure.
    # At exit every gloo rank first waits for the others (bounded: a rank that died does not
    # hang the rest), then every rank destroys its group, for mmagic's stock tools as for ours.
    import atexit
    from datetime import timedelta

    def destroy():
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()):
            return
        if dist.get_backend() == 'gloo':
            try:
                dist.monitored_barrier(timeout=timedelta(seconds=60))
            except Exception:  # another rank failed: still release this one's resources
                pass
        dist.destroy_process_group()

    atexit.register(destroy)


def _cpu_ddp_without_device_ids():
    # mmengine's Runner wraps the model as ``MMDistributedDataParallel(device_ids=[LOCAL_RANK])``
    # when the config has no ``model_wrapper_cfg``, and DDP rejects ``device_ids`` for a module
    # on the CPU ("device_ids ... only work with single-device/multiple-device GPU modules"), so
    # mmagic's stock train.py cannot run CPU DDP (gloo). A CPU module gets ``device_ids=None``.
    from mmengine.model import MMDistributedDataParallel
    original = MMDistributedDataParallel.__init__
    if getattr(original, '_vdeblur_patched', False):
        return

    @functools.wraps(original)
    def __init__(self, module, detect_anomalous_params=False, **kwargs):
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if on_cpu and kwargs.get('device_ids') is not None:
            kwargs['device_ids'] = None
            kwargs.pop('output_device', None)
        original(self, module, detect_anomalous_params=detect_anomalous_params, **kwargs)

    __init__._vdeblur_patched = True
    MMDistributedDataParallel.__init__ = __init__


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
    _cpu_ddp_without_device_ids()
    _destroy_process_group_at_exit()
    _APPLIED = True
