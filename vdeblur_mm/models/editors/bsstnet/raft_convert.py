# Adapted from princeton-vl/RAFT and pytorch/vision (optical_flow/raft.py), BSD-3-Clause.
"""RAFT-large weights: the official princeton-vl layout <-> torchvision's layout.

The official RAFT (princeton-vl/RAFT; BSSTNet copies it into ``basicsr/archs/RAFT``) and
torchvision's ``raft_large`` compute the same network; only module names differ. The mapping is
a pure renaming, no tensor is reshaped, split or concatenated:

========================================  ==============================================
official (``raft-things.pth``)            torchvision (``raft_large``)
========================================  ==============================================
``fnet`` / ``cnet``                        ``feature_encoder`` / ``context_encoder``
``{enc}.conv1``, ``{enc}.norm1``           ``{enc}.convnormrelu.0``, ``.convnormrelu.1``
``layerL.B.conv1``, ``layerL.B.norm1``     ``layerL.B.convnormrelu1.0``, ``.convnormrelu1.1``
``layerL.B.conv2``, ``layerL.B.norm2``     ``layerL.B.convnormrelu2.0``, ``.convnormrelu2.1``
``layerL.0.downsample.{0,1}``              ``layerL.0.downsample.{0,1}`` (L = 2, 3)
``layerL.0.norm3``                         ``layerL.0.downsample.1`` (the same module)
``{enc}.conv2``                            ``{enc}.conv``
``update_block.encoder.convc1/c2/f1/f2``   ``update_block.motion_encoder.convcorr1.0/convcorr2.0/
                                           convflow1.0/convflow2.0``
``update_block.encoder.conv``              ``update_block.motion_encoder.conv.0``
``update_block.gru.conv{z,r,q}1``          ``update_block.recurrent_block.convgru1.conv{z,r,q}``
``update_block.gru.conv{z,r,q}2``          ``update_block.recurrent_block.convgru2.conv{z,r,q}``
``update_block.flow_head.conv{1,2}``       ``update_block.flow_head.conv{1,2}``
``update_block.mask.{0,2}``                ``mask_predictor.convrelu.0``, ``mask_predictor.conv``
========================================  ==============================================

The feature encoder's InstanceNorm layers have no affine parameters nor running statistics, so
they have no keys in either layout. In the official layout the context encoder's BatchNorm
``layerL.0.norm3`` is registered twice (also as ``downsample.1``), so its five entries appear
under both names: the official state dict has 179 entries (17 of them ``num_batches_tracked``),
torchvision's 169 (15). Both have 5,257,536 parameters. The channel orders of the context split
(hidden state first), the motion-encoder outputs and the GRU inputs are the same in both, and
the mask head is scaled by 0.25 in both.

``raft-things.pth`` is the official layout saved from ``nn.DataParallel``: every key starts
with ``module.``.
"""
import os.path as osp

import torch

from ....utils.checkpoint import (
    CheckpointConversionError,
    load_checkpoint_file,
    strip_prefix,
    unwrap_state_dict,
)


def _build_tables():
    """(official key, torchvision key, shape) for every official state-dict entry, in the
    official order (from princeton-vl's ``BasicEncoder``/``ResidualBlock``/
    ``BasicUpdateBlock`` module registration order)."""
    rows = []

    def conv(off, tv, cout, cin, kh, kw=None):
        rows.append((f'{off}.weight', f'{tv}.weight', (cout, cin, kh, kh if kw is None else kw)))
        rows.append((f'{off}.bias', f'{tv}.bias', (cout, )))

    def batch_norm(off, tv, c):
        for name in ('weight', 'bias', 'running_mean', 'running_var'):
            rows.append((f'{off}.{name}', f'{tv}.{name}', (c, )))
        rows.append((f'{off}.num_batches_tracked', f'{tv}.num_batches_tracked', ()))

    for off, tv, bn in (('fnet', 'feature_encoder', False), ('cnet', 'context_encoder', True)):
        norm = batch_norm if bn else (lambda *args: None)  # InstanceNorm2d: no state
        norm(f'{off}.norm1', f'{tv}.convnormrelu.1', 64)
        conv(f'{off}.conv1', f'{tv}.convnormrelu.0', 64, 3, 7)
        for layer, (cin, cout, stride) in ((1, (64, 64, 1)), (2, (64, 96, 2)), (3, (96, 128, 2))):
            for block in (0, 1):
                o, t = f'{off}.layer{layer}.{block}', f'{tv}.layer{layer}.{block}'
                conv(f'{o}.conv1', f'{t}.convnormrelu1.0', cout, cin if block == 0 else cout, 3)
                conv(f'{o}.conv2', f'{t}.convnormrelu2.0', cout, cout, 3)
                norm(f'{o}.norm1', f'{t}.convnormrelu1.1', cout)
                norm(f'{o}.norm2', f'{t}.convnormrelu2.1', cout)
                if block == 0 and stride != 1:
                    norm(f'{o}.norm3', f'{t}.downsample.1', cout)
                    conv(f'{o}.downsample.0', f'{t}.downsample.0', cout, cin, 1)
                    norm(f'{o}.downsample.1', f'{t}.downsample.1', cout)
        conv(f'{off}.conv2', f'{tv}.conv', 256, 128, 1)

    e, m = 'update_block.encoder', 'update_block.motion_encoder'
    cor_planes = 4 * (2 * 4 + 1)**2  # corr_levels * (2 * corr_radius + 1)^2 = 324
    conv(f'{e}.convc1', f'{m}.convcorr1.0', 256, cor_planes, 1)
    conv(f'{e}.convc2', f'{m}.convcorr2.0', 192, 256, 3)
    conv(f'{e}.convf1', f'{m}.convflow1.0', 128, 2, 7)
    conv(f'{e}.convf2', f'{m}.convflow2.0', 64, 128, 3)
    conv(f'{e}.conv', f'{m}.conv.0', 126, 64 + 192, 3)
    for i, (kh, kw) in ((1, (1, 5)), (2, (5, 1))):
        for gate in 'zrq':
            conv(f'update_block.gru.conv{gate}{i}',
                 f'update_block.recurrent_block.convgru{i}.conv{gate}', 128, 128 + 256, kh, kw)
    conv('update_block.flow_head.conv1', 'update_block.flow_head.conv1', 256, 128, 3)
    conv('update_block.flow_head.conv2', 'update_block.flow_head.conv2', 2, 256, 3)
    conv('update_block.mask.0', 'mask_predictor.convrelu.0', 256, 128, 3)
    conv('update_block.mask.2', 'mask_predictor.conv', 64 * 9, 256, 1)
    return rows


_ROWS = _build_tables()

#: Every key of the official RAFT-large state dict (without ``module.``) -> shape.
RAFT_OFFICIAL_PARAM_SHAPES = {o: torch.Size(s) for o, _, s in _ROWS}
#: Every key of torchvision's ``raft_large`` state dict -> shape.
RAFT_TORCHVISION_PARAM_SHAPES = {t: torch.Size(s) for _, t, s in _ROWS}
#: Official key -> torchvision key (two official keys share each ``downsample.1`` entry).
RAFT_OFFICIAL_TO_TORCHVISION = {o: t for o, t, _ in _ROWS}
_TV_TO_OFFICIAL = {}
for _o, _t, _ in _ROWS:
    _TV_TO_OFFICIAL.setdefault(_t, []).append(_o)


def _short(keys, limit=8):
    keys = sorted(keys)
    more = f' ... ({len(keys)} in all)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def _check_keys(state_dict, expected, layout):
    unexpected = set(state_dict) - set(expected)
    if unexpected:
        raise CheckpointConversionError(f'unexpected keys in the {layout} RAFT-large state '
                                        f'dict: {_short(unexpected)}')
    bad = [f'{k}: {tuple(v.shape)} (expected {tuple(expected[k])})'
           for k, v in state_dict.items() if tuple(v.shape) != tuple(expected[k])]
    if bad:
        raise CheckpointConversionError(f'shape mismatch in the {layout} RAFT-large state dict: '
                                        + '; '.join(bad[:8]))


def _batches_tracked(key):
    # absent from some exports; only used by BatchNorm with momentum=None, so 0 is harmless
    return torch.tensor(0, dtype=torch.long) if key.endswith('.num_batches_tracked') else None


def convert_raft_official_to_torchvision(state_dict):
    """Rename an official (princeton-vl) RAFT-large state dict to torchvision's layout.

    Args:
        state_dict (dict): Official keys, with or without the ``module.`` prefix of
            ``nn.DataParallel``. Of the duplicated ``layerL.0.norm3``/``downsample.1`` pairs one
            name suffices (if both are given they must be equal); missing
            ``num_batches_tracked`` entries are filled with 0.

    Returns:
        dict: A state dict for ``torchvision.models.optical_flow.raft_large`` (the tensors
        themselves, not copies).

    Raises:
        CheckpointConversionError: Unexpected or missing keys (named in the message), shape
            mismatches, or differing duplicates (a ValueError and a KeyError).
    """
    sd = strip_prefix(state_dict)
    _check_keys(sd, RAFT_OFFICIAL_PARAM_SHAPES, 'official')
    out, missing = {}, []
    for tv_key, off_keys in _TV_TO_OFFICIAL.items():
        present = [k for k in off_keys if k in sd]
        if not present:
            value = _batches_tracked(tv_key)
            if value is None:
                missing.append(off_keys[0])
                continue
            out[tv_key] = value
            continue
        if len(present) == 2 and not torch.equal(sd[present[0]], sd[present[1]]):
            raise CheckpointConversionError(f'{present[0]} and {present[1]} are the same '
                                            'BatchNorm in the official RAFT but differ in the '
                                            'state dict')
        out[tv_key] = sd[present[0]]
    if missing:
        raise CheckpointConversionError(f'missing keys in the official RAFT-large state dict: '
                                        f'{_short(missing)}')
    return out


def convert_raft_torchvision_to_official(state_dict):
    """Rename a torchvision ``raft_large`` state dict to the official (princeton-vl) layout.

    Args:
        state_dict (dict): torchvision keys (a ``module.`` prefix is stripped). Missing
            ``num_batches_tracked`` entries are filled with 0.

    Returns:
        dict: Official keys without ``module.`` (all 179, the shared BatchNorm under both of
        its names), loadable into princeton-vl's ``RAFT`` with ``strict=True``.

    Raises:
        CheckpointConversionError: Unexpected or missing keys (named in the message), shape
            mismatches (a ValueError and a KeyError).
    """
    sd = strip_prefix(state_dict)
    _check_keys(sd, RAFT_TORCHVISION_PARAM_SHAPES, 'torchvision')
    missing = []
    for tv_key in _TV_TO_OFFICIAL:
        if tv_key not in sd:
            value = _batches_tracked(tv_key)
            if value is None:
                missing.append(tv_key)
            else:
                sd[tv_key] = value
    if missing:
        raise CheckpointConversionError(f'missing keys in the torchvision RAFT-large state '
                                        f'dict: {_short(missing)}')
    return {o: sd[t] for o, t, _ in _ROWS}


def _layout(state_dict):
    heads = {k.split('.', 1)[0] for k in state_dict}
    if heads & {'fnet', 'cnet'} or any(k.startswith('update_block.encoder.') for k in state_dict):
        return 'official'
    if heads & {'feature_encoder', 'context_encoder', 'mask_predictor'}:
        return 'torchvision'
    return None


def load_raft_state_dict(path):
    """Load a local RAFT-large checkpoint in either layout, as a torchvision-layout dict.

    Accepts the official ``raft-things.pth`` (``module.``-prefixed official keys), an official
    dict without the prefix, or a torchvision state dict (e.g. ``raft_large_C_T_V1-*.pth``),
    optionally wrapped under 'state_dict', 'params' or 'model'. Nothing is downloaded.

    Args:
        path (str): The checkpoint file.

    Returns:
        dict: State dict for ``torchvision.models.optical_flow.raft_large`` (strict=True).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointConversionError: The layout is neither, keys are missing or extra, shapes
            mismatch (a ValueError and a KeyError).
    """
    if path is None or not osp.isfile(path):
        raise FileNotFoundError(f'RAFT weights {path!r} do not exist: pass a local checkpoint '
                                '(official raft-things.pth or torchvision layout; nothing is '
                                'downloaded)')
    state = unwrap_state_dict(load_checkpoint_file(path), ('state_dict', 'params', 'model'))
    if not isinstance(state, dict):
        raise CheckpointConversionError(f'{path!r} does not hold a state dict (got '
                                        f'{type(state).__name__})')
    state = strip_prefix(state)
    layout = _layout(state)
    if layout == 'official':
        return convert_raft_official_to_torchvision(state)
    if layout == 'torchvision':
        # validate (and fill num_batches_tracked) by a round trip through the key table
        return convert_raft_official_to_torchvision(convert_raft_torchvision_to_official(state))
    raise CheckpointConversionError(
        f'{path!r} is neither an official (fnet./cnet./update_block.) nor a torchvision '
        f'(feature_encoder./context_encoder.) RAFT-large state dict; first keys: '
        f'{_short(list(state)[:5])}')
