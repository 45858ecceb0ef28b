# Adapted from huicongzhang/BSSTNet (BSST_arch.py key layout), MIT per README; THIRD_PARTY.md
"""Official BSSTNet checkpoints (huicongzhang/BSSTNet, BasicSR layout ``{'params': ...}``) to and
from this package's ``BSSTNet`` generator.

The official network builds modules it never uses (``feat_extract``, ``decoder_level1_2``,
``decoder_level2*``, ``conv_before_upsampler``, ``conv_before_input``, ``upsampler``,
``conv_last``) and stores two size-specific buffers per sparse-attention layer
(``valid_ind_rolled``, ``mask_padding`` for a fixed 32×32 token grid); our generator has none
of them, so they are dropped on import and re-created (unused modules as zeros, buffers as the
official computes them) on export. The sparse transformer lives under ``bsst.`` here.
"""
import torch
from torch import nn

from ....utils.checkpoint import (
    check_state_fits,
    load_checkpoint_file,
    load_network_state,
    save_converted_checkpoint,
    strip_prefix,
    unwrap_state_dict,
)

# (official prefix, our prefix)
RENAMES = (('softsplit.', 'bsst.softsplit.'), ('softcomp.', 'bsst.softcomp.'),
           ('transsqattn.', 'bsst.transformer.'))
UNUSED_PREFIXES = ('feat_extract.', 'decoder_level1_2.', 'decoder_level2.', 'decoder_level2_1.',
                   'decoder_level2_2.', 'conv_before_upsampler.', 'conv_before_input.',
                   'upsampler.', 'conv_last.')
SIZE_BUFFERS = ('.attention.valid_ind_rolled', '.attention.mask_padding')


def _strip(state_dict):
    return strip_prefix(unwrap_state_dict(state_dict))


def convert_bsstnet_official_to_ours(state_dict):
    """Official ``BSST`` state dict (optionally wrapped in ``params``/``module.``) → ours."""
    out = {}
    for key, value in _strip(state_dict).items():
        if key.startswith(UNUSED_PREFIXES) or key.endswith(SIZE_BUFFERS):
            continue
        for old, new in RENAMES:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


def _unused_official_modules(mid_channels=192, enc_channels=64):
    """The modules the official network builds but never runs, with its names."""
    from .bsstnet_cnn_blocks import CAB
    from .bsstnet_shift_blocks import EncoderShiftBlock
    c, e = mid_channels, enc_channels
    act = nn.LeakyReLU(0.1)
    return nn.ModuleDict({
        'feat_extract': nn.Sequential(nn.Conv2d(3, e, 3, 1, 1), CAB(e, 3, bias=False, act=act)),
        'decoder_level1_2': EncoderShiftBlock(e, bias=False),
        'decoder_level2': EncoderShiftBlock(c, bias=False),
        'decoder_level2_1': EncoderShiftBlock(c, bias=False),
        'decoder_level2_2': EncoderShiftBlock(c, bias=False),
        'conv_before_upsampler': nn.Sequential(nn.Conv3d(c, e, 1)),
        'conv_before_input': nn.Sequential(nn.Identity(), nn.Conv3d(c, c, (1, 3, 3)),
                                           nn.Identity(), nn.Conv3d(c, c, (1, 3, 3))),
        # Upsample(4, 64): conv, 3 shape ops, act, conv, 3 shape ops, act, conv
        'upsampler': nn.Sequential(*[nn.Conv3d(e, 4 * e, (1, 3, 3)) if i in (0, 5) else
                                     nn.Conv3d(e, e, (1, 3, 3)) if i == 10 else nn.Identity()
                                     for i in range(11)]),
        'conv_last': nn.Conv3d(e, 3, (1, 3, 3)),
    })


def official_rolled_key_buffers(window_size=(8, 8), grid=(32, 32)):
    """``valid_ind_rolled`` and ``mask_padding`` as the official ``SparseWindowAttention``
    computes them (its fixed 32×32 token grid)."""
    wh, ww = window_size
    eh, ew = (wh + 1) // 2, (ww + 1) // 2
    masks = []
    for rows, cols in ((slice(None, -eh), slice(None, -ew)), (slice(None, -eh), slice(ew, None)),
                       (slice(eh, None), slice(None, -ew)), (slice(eh, None), slice(ew, None))):
        m = torch.ones(wh, ww)
        m[rows, cols] = 0
        masks.append(m)
    valid = torch.stack(masks).flatten().nonzero(as_tuple=False).view(-1)
    padding = []
    for sy, sx in ((-eh, -ew), (-eh, ew), (eh, -ew), (eh, ew)):
        p = torch.ones(grid)
        # rolled with zero padding: the rows/columns that wrapped around are zero
        p[(slice(grid[0] + sy, None) if sy < 0 else slice(None, sy)), :] = 0
        p[:, (slice(grid[1] + sx, None) if sx < 0 else slice(None, sx))] = 0
        padding.append(p)
    return valid, torch.stack(padding)


def convert_bsstnet_ours_to_official(state_dict, mid_channels=192, enc_channels=64,
                                     window_size=(8, 8)):
    """Our ``BSSTNet`` state dict → the official layout, wrapped as ``{'params': ...}`` so the
    official code loads it with ``strict=True``."""
    out = {}
    layers = set()
    for key, value in _strip(state_dict).items():
        for old, new in RENAMES:
            if key.startswith(new):
                key = old + key[len(new):]
                if old == 'transsqattn.':
                    layers.add('.'.join(key.split('.')[:3]))  # transsqattn.transformer.i
                break
        out[key] = value
    valid, padding = official_rolled_key_buffers(window_size)
    for layer in sorted(layers):
        out[f'{layer}.attention.valid_ind_rolled'] = valid.clone()
        out[f'{layer}.attention.mask_padding'] = padding.clone()
    for name, value in _unused_official_modules(mid_channels, enc_channels).state_dict().items():
        out[name] = torch.zeros_like(value)
    return {'params': out}


def bsstnet_from_official(src, dst, prefix='generator.', generator=None):
    """Official ``BSST_gopro.pth``/``BSST_dvd.pth`` → an mmengine checkpoint for
    ``BSSTNetDeblur`` (keys ``generator.*``), checked against ``generator`` when given.

    Returns:
        int: Number of tensors written.
    """
    state = convert_bsstnet_official_to_ours(load_checkpoint_file(src))
    check_state_fits(generator, state, src, 'BSSTNet')
    save_converted_checkpoint(state, dst, prefix, str(src), 'BSSTNet official')
    return len(state)


def bsstnet_to_official(src, dst, prefix='generator.'):
    """An mmengine ``BSSTNetDeblur`` checkpoint → the official ``{'params': ...}`` layout."""
    net = load_network_state(src, prefix)
    mid = net['encoder_level2.body.0.weight'].shape[0] if 'encoder_level2.body.0.weight' in net \
        else 192
    enc = net['concat.0.weight'].shape[0] if 'concat.0.weight' in net else 64
    out = convert_bsstnet_ours_to_official(net, mid, enc)
    torch.save(out, dst)
    return len(out['params'])
