# Adapted from Chen-Rao/VD-Diff (S1/S2/S3_arch.py key layout), MIT; THIRD_PARTY.md
"""Official VD-Diff checkpoints (BasicSR layout ``{'params': ...}``, keys under ``LE.``, ``DM.``,
``WADT.``) to and from this package's ``VDDiffNet``.

What changes on the way in (:func:`official_to_ours`), and how the way out
(:func:`ours_to_official`) restores it so that the official code loads the result strictly:

- names (shapes unchanged): ``LE``/``DM``/``WADT`` -> ``le``/``dm``/``wadt``; the encoders'
  ``E.<i>`` sequence -> ``conv_in``, ``res_blocks.<j>.conv1/2``, ``conv_out.<k>``; the
  denoiser's ``resmlp.0`` -> ``fc_in``, ``resmlp.<j+2>.resmlp.0`` -> ``fcs.<j>``; the WADT
  parts as in :data:`_WADT_TO_OURS` (e.g. ``attn.kernel.0`` -> ``mod1.linear``,
  ``kernel_conv_pixel`` -> ``dynamic_conv``, ``resblock_bcakward2d.main.0`` -> ``res_blocks``);
- the official ``DM`` holds its condition encoder and denoiser twice (``DM.condition.*`` =
  ``DM.diffusion.condition.*``, ``DM.denoise.*`` = ``DM.diffusion.model.*``, one module
  each): one copy is kept (the two are checked equal), both are written out;
- the 12 schedule buffers ``DM.diffusion.<name>``: checked against the linear schedule their
  betas define and dropped (``VDDiffNet`` recomputes them from its config); written out from
  ``prior_schedule(timesteps, linear_start, linear_end)``;
- ``WADT.wave.haar_weights`` (the frozen Haar filters, a parameter there, a function here):
  checked and dropped; regenerated out;
- ``WADT.transformer_scale4.output`` (an upsampler the official ``WADTL`` builds and never
  calls, 73,728 parameters): dropped; written out as zeros, as ``bsstnet/convert.py`` does
  with BSSTNet's unused modules (its values never reach an output).

A stage-1 checkpoint (no ``DM``) converts to a ``stage='s1'`` network and back.
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
    unwrap_state_dict,
)
from .vddiff_diffusion import SCHEDULE_BUFFERS, prior_schedule

# duplicated official DM modules: (kept copy, duplicate)
DUPLICATES = (('DM.condition.', 'DM.diffusion.condition.'),
              ('DM.denoise.', 'DM.diffusion.model.'))
HAAR_KEY = 'WADT.wave.haar_weights'
UNUSED_PREFIX = 'WADT.transformer_scale4.output.'

# (official regex, ours) applied in order to the keys under WADT. (after the prefix change)
_WADT_TO_OURS = (
    (r'^x_wave_(\d)_conv1\.', r'hf\1_convs.0.'),
    (r'^x_wave_(\d)_conv2\.', r'hf\1_convs.2.'),
    (r'^transformer_scale4\.encoder_level1\.', 'transformer.encoder.'),
    (r'^transformer_scale4\.decoder_level1\.', 'transformer.decoder.'),
    (r'^transformer_scale4\.down1_2\.body\.0\.', 'transformer.down.0.'),
    (r'^transformer_scale4\.up2_1\.body\.0\.', 'transformer.up.0.'),
    (r'^transformer_scale4\.reduce_chan_level1\.', 'transformer.reduce.'),
    (r'^transformer_scale4\.', 'transformer.'),
    (r'\.norm(\d)\.body\.', r'.norm\1.'),
    (r'\.attn\.kernel\.0\.', '.mod1.linear.'),
    (r'\.ffn\.kernel\.0\.', '.mod2.linear.'),
    (r'\.ffn\.kerner_conv_channel\.', '.ffn.dwconv.'),
    (r'^(backward|forward)_propagation_2\.conv1\.', r'\1_prop.fuse.'),
    (r'^(backward|forward)_propagation_2\.conv2\.', r'\1_prop.gate1.'),
    (r'^(backward|forward)_propagation_2\.conv3\.', r'\1_prop.gate2.'),
    (r'^(backward|forward)_propagation_2\.', r'\1_prop.'),
    (r'\.kernel_conv_pixel\.Block(\d)\.', r'.dynamic_conv.block\1.'),
    (r'\.kernel_conv_pixel\.tokernel\.', '.dynamic_conv.to_kernel.'),
    (r'\.resblock_bcakward2d\.main\.0\.', '.res_blocks.'),
)
_WADT_TO_OFFICIAL = (
    (r'^hf(\d)_convs\.0\.', r'x_wave_\1_conv1.'),
    (r'^hf(\d)_convs\.2\.', r'x_wave_\1_conv2.'),
    (r'^transformer\.encoder\.', 'transformer_scale4.encoder_level1.'),
    (r'^transformer\.decoder\.', 'transformer_scale4.decoder_level1.'),
    (r'^transformer\.down\.0\.', 'transformer_scale4.down1_2.body.0.'),
    (r'^transformer\.up\.0\.', 'transformer_scale4.up2_1.body.0.'),
    (r'^transformer\.reduce\.', 'transformer_scale4.reduce_chan_level1.'),
    (r'^transformer\.', 'transformer_scale4.'),
    (r'\.norm(\d)\.(weight|bias)$', r'.norm\1.body.\2'),
    (r'\.mod1\.linear\.', '.attn.kernel.0.'),
    (r'\.mod2\.linear\.', '.ffn.kernel.0.'),
    (r'\.ffn\.dwconv\.', '.ffn.kerner_conv_channel.'),
    (r'^(backward|forward)_prop\.fuse\.', r'\1_propagation_2.conv1.'),
    (r'^(backward|forward)_prop\.gate1\.', r'\1_propagation_2.conv2.'),
    (r'^(backward|forward)_prop\.gate2\.', r'\1_propagation_2.conv3.'),
    (r'^(backward|forward)_prop\.', r'\1_propagation_2.'),
    (r'\.dynamic_conv\.block(\d)\.', r'.kernel_conv_pixel.Block\1.'),
    (r'\.dynamic_conv\.to_kernel\.', '.kernel_conv_pixel.tokernel.'),
    (r'\.res_blocks\.', '.resblock_bcakward2d.main.0.'),
)
# top-level prefixes, official <-> ours (the encoders and the denoiser are mapped by index)
_PREFIXES = (('LE.', 'le.'), ('DM.condition.', 'dm.condition.'),
             ('DM.denoise.', 'dm.denoise.'), ('WADT.', 'wadt.'))


def official_haar_weights(channels):
    """The official frozen Haar filters ``[4 * channels, 1, 2, 2]`` (+-1, band by band per
    channel)."""
    w = torch.ones(4, 1, 2, 2)
    w[1, 0, :, 1] = -1
    w[2, 0, 1, :] = -1
    w[3, 0, 1, 0] = w[3, 0, 0, 1] = -1
    return w.repeat(channels, 1, 1, 1)


def _apply(rules, key):
    for pattern, repl in rules:
        key = re.sub(pattern, repl, key, count=1)
    return key


def _num_res_blocks(keys, pattern):
    return len({m.group(1) for k in keys for m in [re.match(pattern, k)] if m})


def _encoder_to_ours(rest, n):
    """Key inside LE/CE: official ``E.<i>`` (conv, act, n ResBlocks, conv, act, conv, act,
    conv, act, pool) -> ours."""
    m = re.match(r'E\.(\d+)\.(.*)$', rest)
    if m is None:
        return rest  # mlp.*
    i, tail = int(m.group(1)), m.group(2)
    if i == 0:
        return 'conv_in.' + tail
    if 2 <= i < 2 + n:
        b = re.match(r'body\.([02])\.(.*)$', tail)
        if b is None:
            raise CheckpointConversionError(f'unexpected encoder key E.{rest}')
        return f'res_blocks.{i - 2}.conv{1 + int(b.group(1)) // 2}.{b.group(2)}'
    return f'conv_out.{i - n - 2}.{tail}'


def _encoder_to_official(rest, n):
    m = re.match(r'(conv_in|res_blocks\.(\d+)\.conv([12])|conv_out\.(\d+))\.(.*)$', rest)
    if m is None:
        return rest  # mlp.*
    if m.group(1) == 'conv_in':
        return 'E.0.' + m.group(5)
    if m.group(2) is not None:
        return f'E.{int(m.group(2)) + 2}.body.{2 * (int(m.group(3)) - 1)}.{m.group(5)}'
    return f'E.{int(m.group(4)) + n + 2}.{m.group(5)}'


def _denoise_to_ours(rest):
    if rest.startswith('resmlp.0.'):
        return 'fc_in.' + rest[len('resmlp.0.'):]
    m = re.match(r'resmlp\.(\d+)\.resmlp\.0\.(.*)$', rest)
    if m is None:
        raise CheckpointConversionError(f'unexpected denoiser key DM.denoise.{rest}')
    return f'fcs.{int(m.group(1)) - 2}.{m.group(2)}'


def _denoise_to_official(rest):
    if rest.startswith('fc_in.'):
        return 'resmlp.0.' + rest[len('fc_in.'):]
    m = re.match(r'fcs\.(\d+)\.(.*)$', rest)
    return f'resmlp.{int(m.group(1)) + 2}.resmlp.0.{m.group(2)}'


def _check_schedule(state):
    found = {k: state[f'DM.diffusion.{k}'] for k in SCHEDULE_BUFFERS
             if f'DM.diffusion.{k}' in state}
    if not found:
        return
    if 'betas' not in found:
        raise CheckpointConversionError('DM.diffusion schedule buffers without betas')
    betas = found['betas'].double()
    expected = prior_schedule(len(betas), betas[0].item(), betas[-1].item())
    for k, v in found.items():
        if v.shape != expected[k].shape or not torch.allclose(v.float(), expected[k],
                                                              rtol=1e-5, atol=1e-6):
            raise CheckpointConversionError(
                f'DM.diffusion.{k} {v.tolist()} is not the linear schedule of betas '
                f'{betas.tolist()} ({expected[k].tolist()}); VDDiffNet computes only that one')


def _map_key(key, to_ours, n_le, n_ce):
    """One key, official -> ours (``to_ours``) or back; ``n_le``/``n_ce``: residual blocks of
    LE and of the condition encoder (their sequences are mapped by index)."""
    for official, ours in _PREFIXES:
        src, dst = (official, ours) if to_ours else (ours, official)
        if key.startswith(src):
            rest = key[len(src):]
            break
    else:
        known = ', '.join(p[0 if to_ours else 1] for p in _PREFIXES)
        what = 'a VD-Diff checkpoint' if to_ours else 'a VDDiffNet state dict'
        raise CheckpointConversionError(f'unexpected key {key} in {what} (known: {known})')
    if official in ('LE.', 'DM.condition.'):
        n = n_le if official == 'LE.' else n_ce
        rest = _encoder_to_ours(rest, n) if to_ours else _encoder_to_official(rest, n)
    elif official == 'DM.denoise.':
        rest = _denoise_to_ours(rest) if to_ours else _denoise_to_official(rest)
    else:
        rest = _apply(_WADT_TO_OURS if to_ours else _WADT_TO_OFFICIAL, rest)
    return dst + rest


def official_to_ours(state_dict):
    """Official ``S1/S2/S3_arch`` state dict (optionally wrapped in ``params``/``params_ema``/
    ``state_dict`` and ``module.``) -> ours (``VDDiffNet`` keys ``le.``, ``dm.``, ``wadt.``).

    Raises:
        CheckpointConversionError: unknown keys, duplicated copies that differ, schedule
            buffers of another schedule, Haar filters that are not the fixed ones.
    """
    state = strip_prefix(unwrap_state_dict(state_dict))
    for kept, dup in DUPLICATES:
        for key in [k for k in state if k.startswith(dup)]:
            twin = kept + key[len(dup):]
            if twin not in state:
                state[twin] = state[key]
            elif not torch.equal(state[twin], state[key]):
                raise CheckpointConversionError(f'{key} differs from its twin {twin} (one '
                                                f'module in the official network)')
    _check_schedule(state)
    if HAAR_KEY in state:
        haar = state[HAAR_KEY]
        if not torch.equal(haar.float(), official_haar_weights(haar.shape[0] // 4)):
            raise CheckpointConversionError(f'{HAAR_KEY} is not the fixed Haar filter bank')
    n_le = _num_res_blocks(state, r'LE\.E\.(\d+)\.body\.0\.weight$')
    n_ce = _num_res_blocks(state, r'DM\.condition\.E\.(\d+)\.body\.0\.weight$')
    out = {}
    for key, value in state.items():
        if key.startswith(tuple(d for _, d in DUPLICATES) + (UNUSED_PREFIX, HAAR_KEY)) or \
                key.startswith('DM.diffusion.') and key[len('DM.diffusion.'):] in \
                SCHEDULE_BUFFERS:
            continue
        out[_map_key(key, True, n_le, n_ce)] = value
    return out


def ours_to_official(state_dict, timesteps=4, linear_start=0.1, linear_end=0.99):
    """Our ``VDDiffNet`` state dict -> the official layout, wrapped as ``{'params': ...}`` so
    that the official ``S3_arch`` (``S1_arch`` for a stage-1 network) loads it with
    ``strict=True``: both copies of the duplicated DM modules, the schedule buffers of
    ``prior_schedule(timesteps, linear_start, linear_end)`` (when there is a DM), the Haar
    filters and zeros for the never-called ``transformer_scale4.output``."""
    state = strip_prefix(unwrap_state_dict(state_dict))
    n_le = _num_res_blocks(state, r'le\.res_blocks\.(\d+)\.conv1\.weight$')
    n_ce = _num_res_blocks(state, r'dm\.condition\.res_blocks\.(\d+)\.conv1\.weight$')
    out = {}
    for key, value in state.items():
        out[_map_key(key, False, n_le, n_ce)] = value
    if any(k.startswith('DM.') for k in out):
        for kept, dup in DUPLICATES:
            for key in [k for k in out if k.startswith(kept)]:
                out[dup + key[len(kept):]] = out[key]
        for name, value in prior_schedule(timesteps, linear_start, linear_end).items():
            out[f'DM.diffusion.{name}'] = value
    if 'WADT.feat_extractor.weight' not in out:
        raise CheckpointConversionError('a VDDiffNet state dict needs wadt.* keys')
    dim = out['WADT.feat_extractor.weight'].shape[0]
    ref = out['WADT.feat_extractor.weight']
    out[HAAR_KEY] = official_haar_weights(dim).to(ref.dtype)
    out[UNUSED_PREFIX + 'body.0.weight'] = ref.new_zeros(2 * dim, dim, 3, 3)
    return {'params': out}


convert_vddiff_official_to_ours = official_to_ours
convert_vddiff_ours_to_official = ours_to_official


def vddiff_from_official(src, dst, prefix='generator.', generator=None):
    """An official VD-Diff ``net_g_*.pth`` -> an mmengine checkpoint (keys ``generator.*``),
    checked against ``generator`` (a ``VDDiffNet``) when given.

    Returns:
        int: Number of tensors written.
    """
    state = official_to_ours(load_checkpoint_file(src))
    check_state_fits(generator, state, src, 'VDDiffNet')
    save_converted_checkpoint(state, dst, prefix, str(src), 'VD-Diff official')
    return len(state)


def vddiff_to_official(src, dst, prefix='generator.', **schedule):
    """An mmengine ``VDDiffNet`` checkpoint -> the official ``{'params': ...}`` layout
    (``schedule``: ``timesteps``, ``linear_start``, ``linear_end`` if not the defaults)."""
    out = ours_to_official(load_network_state(src, prefix), **schedule)
    torch.save(out, dst)
    return len(out['params'])


__all__ = ['convert_vddiff_official_to_ours', 'convert_vddiff_ours_to_official',
           'official_haar_weights', 'official_to_ours', 'ours_to_official',
           'vddiff_from_official', 'vddiff_to_official']
