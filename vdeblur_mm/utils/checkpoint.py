"""Reading checkpoints: the one loader of the package, state dicts out of other code bases'
checkpoints, and the one error type of every checkpoint converter."""


class CheckpointConversionError(ValueError, KeyError):
    """A checkpoint does not have the keys or shapes a conversion expects.

    Raised by every converter (EDVR's, BSSTNet's, RAFT's). It is a ValueError and, since the
    BSSTNet and RAFT converters raised KeyError for missing or unexpected keys, a KeyError too;
    its message reads as written (KeyError would quote it).
    """

    __str__ = ValueError.__str__


def unwrap_state_dict(state, wrappers=('params_ema', 'params', 'state_dict')):
    """The first of ``wrappers`` (BasicSR's 'params'/'params_ema', mmengine's 'state_dict', …)
    that holds a dict, else ``state`` itself."""
    for key in wrappers:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            return state[key]
    return state


def strip_prefix(state, prefix='module.'):
    """``state`` with ``prefix`` removed from the keys that start with it (e.g. DataParallel's
    'module.')."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}


def load_checkpoint_file(path):
    """The one checkpoint reader of the package: a local file with ``torch.load`` on the CPU
    (weights only; ``vdeblur_mm.compat`` allows the classes mmengine checkpoints hold), a URL
    (``scheme://``) through mmengine's ``CheckpointLoader``; a clear error when a local file
    does not exist."""
    import os.path as osp

    import torch
    if '://' in str(path):
        from mmengine.runner import CheckpointLoader
        return CheckpointLoader.load_checkpoint(path, map_location='cpu')
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    return torch.load(path, map_location='cpu', weights_only=True)
