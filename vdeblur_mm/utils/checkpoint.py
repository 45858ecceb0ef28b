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


def resolve_stage_checkpoint(path, what, hint, prefer_best=True):
    """The checkpoint a multi-stage model starts a stage from: ``path`` itself if it is a file;
    for the work dir of the previous stage its single ``best_*.pth`` (with ``prefer_best``)
    else the file its ``last_checkpoint`` names.

    Args:
        path (str): A checkpoint file or a work dir.
        what (str): What the checkpoint is for, for the error message (e.g. 'stage 2 of
            FMA-Net starts NetD from a stage-1 checkpoint').
        hint (str): What to do when nothing is found (e.g. 'train stage 1 first (...)').
        prefer_best (bool): Take ``best_*.pth`` before ``last_checkpoint``. Default: True.

    Raises:
        FileNotFoundError: nothing to load, with ``what`` and ``hint``.
    """
    import glob
    import os.path as osp
    if osp.isfile(path):
        return path
    if osp.isdir(path):
        best = sorted(glob.glob(osp.join(path, 'best_*.pth'))) if prefer_best else []
        if len(best) == 1:
            return best[0]
        if len(best) > 1:
            raise FileNotFoundError(f'{path} holds several best checkpoints {best}: give the '
                                    f'file itself')
        pointer = osp.join(path, 'last_checkpoint')
        if osp.isfile(pointer):
            with open(pointer) as f:
                last = f.read().strip()
            if osp.isfile(last):
                return last
    where = 'best_*.pth or last_checkpoint' if prefer_best else 'last_checkpoint'
    raise FileNotFoundError(f'{what}, but {path!r} is neither a checkpoint file nor a work dir '
                            f'holding {where}: {hint}')


def check_state_fits(generator, state, src, what, shown=8):
    """Raise unless ``state`` loads into ``generator`` with exactly its keys and shapes (no-op
    when ``generator`` is None): every converter checks its result against a config this way.

    Args:
        generator (nn.Module | None): The configured network.
        state (dict): The converted state dict.
        src (str): The converted file, for the message.
        what (str): The network's name, for the message (e.g. 'BSSTNet').
        shown (int): How many missing/unexpected keys the message lists. Default: 8.

    Raises:
        CheckpointConversionError: missing or unexpected keys, or shapes that differ.
    """
    if generator is None:
        return
    try:
        missing, unexpected = generator.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise CheckpointConversionError(
            f'{src} does not match the configured {what}: {err}') from err
    if missing or unexpected:
        raise CheckpointConversionError(
            f'{src} does not match the configured {what}: missing {sorted(missing)[:shown]}, '
            f'unexpected {sorted(unexpected)[:shown]}')


def save_converted_checkpoint(state, dst, prefix, converted_from, fmt):
    """Write a converted network state as an mmengine checkpoint (``{'state_dict', 'meta'}``,
    keys ``prefix + key``) that ``tools/test.py CONFIG CHECKPOINT`` loads."""
    import torch
    torch.save({'state_dict': {prefix + k: v for k, v in state.items()},
                'meta': {'converted_from': converted_from, 'format': fmt}}, dst)


def load_network_state(src, prefix):
    """The keys under ``prefix`` (prefix removed) of an mmengine checkpoint file (or of a bare
    state dict), for the ``*-to-official`` converters.

    Raises:
        CheckpointConversionError: no key starts with ``prefix``.
    """
    state = load_checkpoint_file(src)
    state = state.get('state_dict', state)
    net = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not net:
        raise CheckpointConversionError(f'{src} has no keys starting with {prefix!r}')
    return net
