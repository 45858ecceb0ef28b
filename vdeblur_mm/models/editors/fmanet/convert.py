# Adapted from KAIST-VICLab/FMA-Net (train.py, model.py), MIT; THIRD_PARTY.md
"""Official FMA-Net checkpoints to and from this package's ``FMANet``.

The official training writes two files per stage, ``model_D_{best,latest,N}.pt`` holding
``model_D_state_dict`` (NetD, unprefixed keys) and ``model_R_*.pt`` holding ``model_R_state_dict``
(NetR). Ours is one mmengine checkpoint with ``generator.net_d.*`` and ``generator.net_r.*``.

Two things change on the way:

- names: ``FRMA_blocks`` -> ``frma_blocks``, ``RDBs`` -> ``rdbs``, ``rdb_KD`` -> ``rdb_kd``,
  ``conv_KD`` -> ``conv_kd``, ``conv_Fw`` -> ``conv_fw``; shapes are unchanged;
- colour order: the official data loader feeds cv2's **BGR** frames, ours RGB. The layers
  that read or write image channels are reordered, so the converted network computes on RGB
  exactly what the official one computes on BGR: the input channels of both feature
  extractors' first conv and of NetR's ``f_conv3`` (its warped-LR and centre-LR inputs), and
  the output channels of NetR's ``res_conv2`` and both anchor heads. Warps and dynamic
  filters treat channels alike and need nothing.
"""
import re

import torch

from ....utils.checkpoint import (
    CheckpointConversionError,
    check_state_fits,
    load_checkpoint_file,
    load_network_state,
    save_converted_checkpoint,
    strip_prefix,
)

# (official name component, ours)
RENAMES = (('FRMA_blocks', 'frma_blocks'), ('RDBs', 'rdbs'), ('rdb_KD', 'rdb_kd'),
           ('conv_KD', 'conv_kd'), ('conv_Fw', 'conv_fw'))

# layers whose output channels are image channels
_COLOUR_OUT_D = ('a_conv.2',)
_COLOUR_OUT_R = ('res_conv2', 'a_conv.2')


def _rename(key, to_ours=True):
    parts = key.split('.')
    table = dict(RENAMES) if to_ours else {b: a for a, b in RENAMES}
    return '.'.join(table.get(p, p) for p in parts)


def _colour_blocks(state, net):
    """(key, dim, start) of every 3-channel image block of NetD ('d') or NetR ('r')."""
    blocks = [('feature_extractor.0.weight', 1, 0)]
    outs = _COLOUR_OUT_D if net == 'd' else _COLOUR_OUT_R
    for prefix in outs:
        blocks.append((prefix + '.weight', 0, 0))
        if prefix + '.bias' in state:
            blocks.append((prefix + '.bias', 0, 0))
    if net == 'r':
        f3 = state.get('f_conv3.0.weight')
        if f3 is None:
            raise CheckpointConversionError('NetR state dict has no f_conv3.0.weight')
        flows = f3.shape[1] - 6  # cat(multi-flow-mask, warped LR (3), centre LR (3))
        blocks += [('f_conv3.0.weight', 1, flows), ('f_conv3.0.weight', 1, flows + 3)]
    return blocks


def _swap_colour(state, net):
    """Reverse the 3-channel image blocks (BGR <-> RGB; its own inverse)."""
    out = dict(state)
    for key, dim, start in _colour_blocks(state, net):
        if key not in out:
            raise CheckpointConversionError(f'FMA-Net Net{net.upper()} state dict has no {key}')
        value = out[key].clone()
        idx = torch.arange(start, start + 3)
        value.index_copy_(dim, idx, value.index_select(dim, idx.flip(0)))
        out[key] = value
    return out


def _official_net_state(obj, entry):
    """The NetD/NetR state dict inside an official checkpoint file (or a bare state dict)."""
    if isinstance(obj, dict) and entry in obj:
        obj = obj[entry]
    if not isinstance(obj, dict) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise CheckpointConversionError(f'expected an official FMA-Net checkpoint with '
                                        f'{entry!r} (or a bare state dict)')
    return strip_prefix(obj)


def convert_fmanet_official_to_ours(state_d, state_r=None):
    """Official NetD (and NetR) state dicts -> our ``FMANet`` state dict (``net_d.*``,
    ``net_r.*``), colour order made RGB."""
    out = {}
    for net, state in (('d', state_d), ('r', state_r)):
        if state is None:
            continue
        if 'FRMA_blocks.0.rdb.conv.weight' not in state:
            raise CheckpointConversionError(f'not an official FMA-Net Net{net.upper()} state dict '
                                            f'(no FRMA_blocks.0.rdb.conv.weight)')
        for key, value in _swap_colour(state, net).items():
            out[f'net_{net}.' + _rename(key)] = value
    return out


def convert_fmanet_ours_to_official(state):
    """Our ``FMANet`` state dict -> (NetD, NetR or None) official state dicts (BGR order)."""
    nets = {}
    for key, value in state.items():
        match = re.match(r'net_([dr])\.(.*)', key)
        if match:
            nets.setdefault(match.group(1), {})[_rename(match.group(2), to_ours=False)] = value
    if 'd' not in nets:
        raise CheckpointConversionError('no net_d.* keys: not an FMANet state dict')
    return tuple(_swap_colour(nets[n], n) if n in nets else None for n in ('d', 'r'))


def fmanet_from_official(src_d, dst, src_r=None, prefix='generator.', generator=None):
    """Official ``model_D_*.pt`` (and ``model_R_*.pt``) -> one mmengine checkpoint for
    ``FMANetVSRDB``; checked against ``generator`` when given.

    Returns:
        int: Number of tensors written.
    """
    state_d = _official_net_state(load_checkpoint_file(src_d), 'model_D_state_dict')
    state_r = _official_net_state(load_checkpoint_file(src_r), 'model_R_state_dict') \
        if src_r else None
    state = convert_fmanet_official_to_ours(state_d, state_r)
    check_state_fits(generator, state, src_d, 'FMANet', shown=6)
    save_converted_checkpoint(state, dst, prefix,
                              [str(src_d)] + ([str(src_r)] if src_r else []),
                              'FMA-Net official (BGR), converted to RGB')
    return len(state)


def fmanet_to_official(src, dst_d, dst_r=None, prefix='generator.'):
    """An mmengine ``FMANetVSRDB`` checkpoint -> official ``model_D``/``model_R`` files
    (``{'model_D_state_dict': ...}``, ``{'model_R_state_dict': ...}``, BGR order).

    Returns:
        int: Number of tensors written.
    """
    net = load_network_state(src, prefix)
    state_d, state_r = convert_fmanet_ours_to_official(net)
    torch.save({'model_D_state_dict': state_d}, dst_d)
    if state_r is not None:
        if not dst_r:
            raise CheckpointConversionError(f'{src} holds NetR too: give a second output file')
        torch.save({'model_R_state_dict': state_r}, dst_r)
    return len(state_d) + len(state_r or {})
