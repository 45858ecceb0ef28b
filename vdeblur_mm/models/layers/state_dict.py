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
