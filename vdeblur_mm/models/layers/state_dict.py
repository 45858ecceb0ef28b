"""Reading state dicts out of checkpoints written by other code bases."""


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
    """``torch.load`` of a local checkpoint on the CPU (weights only), with a clear error when
    the file does not exist."""
    import os.path as osp

    import torch
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    return torch.load(path, map_location='cpu', weights_only=True)
