"""Convert checkpoints between official code bases and vdeblur_mm (one sub-command a format).

    python tools/convert_checkpoint.py edvr-from-basicsr EDVR_L_deblur_REDS_official-ca46bd8c.pth \
        checkpoints/edvr-l-deblur_reds_basicsr.pth \
        [--config configs/edvr_deblur/edvr-l-deblur_c128b40_8xb8-600k_reds4.py]
    python tools/convert_checkpoint.py edvr-to-basicsr work_dirs/.../iter_600000.pth \
        edvr_basicsr.pth
    python tools/convert_checkpoint.py bsstnet-from-official BSST_gopro.pth \
        checkpoints/bsstnet_gopro_official.pth \
        [--config configs/bsstnet/bsstnet_c192_8xb1-600k_gopro.py]
    python tools/convert_checkpoint.py fmanet-from-official model_stage2/model_D_best.pt \
        checkpoints/fmanet_reds_official.pth --net-r model_stage2/model_R_best.pt \
        [--config configs/fmanet/fmanet-stage2_c90f4_1xb8-1303k_reds.py]
    python tools/convert_checkpoint.py fmanet-to-official work_dirs/.../best_PSNR_iter_N.pth \
        model_D.pt --net-r-output model_R.pt
    python tools/convert_checkpoint.py vddiff-from-official net_g_100000.pth \
        checkpoints/vddiff_gopro_official.pth \
        [--config configs/vddiff/vddiff-s3_c64_1xb2-100k_gopro.py]
    python tools/convert_checkpoint.py vddiff-to-official work_dirs/.../iter_100000.pth \
        net_g.pth
    python tools/convert_checkpoint.py raft-from-official raft-things.pth \
        checkpoints/raft-things_torchvision.pth     # (RAFTFlowEstimator also reads either)

The output of an ``*-from-*`` command is an mmengine checkpoint (``{'state_dict', 'meta'}``)
that ``tools/test.py CONFIG CHECKPOINT`` loads. The conversion logic lives in the package
(``vdeblur_mm.models.editors.<model>.convert``); a new format adds a sub-command to ``COMMANDS``.
"""
import argparse
import os
import os.path as osp
import sys

import _common  # noqa: F401  (puts the clone on sys.path, applies the compat fixes)

# isort: split


def _build_model(config, part=None):
    """The model of ``config`` (or its ``part``, e.g. 'generator'; None without a config), to
    check a conversion against."""
    if not config:
        return None
    from mmagic.registry import MODELS
    from mmengine.registry import init_default_scope
    cfg = _common.load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmagic'))
    return MODELS.build(cfg.model[part] if part else cfg.model)


def _edvr_from_basicsr(args):
    from vdeblur_mm.models.editors.edvr.convert import edvr_from_basicsr
    model = _build_model(args.config)
    kwargs = edvr_from_basicsr(args.input, args.output, key=args.key, prefix=args.prefix,
                               model=model)
    return f'EDVRDeblurNet({", ".join(f"{k}={v}" for k, v in kwargs.items())})'


def _edvr_to_basicsr(args):
    from vdeblur_mm.models.editors.edvr.convert import edvr_to_basicsr
    hparams = edvr_to_basicsr(args.input, args.output, prefix=args.prefix)
    return f'BasicSR EDVR({", ".join(f"{k}={v}" for k, v in hparams.items())})'


def _add_edvr_from_basicsr(sub):
    p = sub.add_parser('edvr-from-basicsr',
                       help='BasicSR EDVR checkpoint (params/params_ema) -> EDVRDeblur')
    p.add_argument('--key', choices=['params', 'params_ema'],
                   help='entry to read (default: params, else params_ema, else the whole file)')
    p.add_argument('--config', help='also check the result against this config\'s model')
    p.add_argument('--prefix', default='generator.',
                   help='prefix of the written keys (default: generator.)')
    return p


def _add_edvr_to_basicsr(sub):
    p = sub.add_parser('edvr-to-basicsr',
                       help='EDVRDeblur/EDVRDeblurNet checkpoint -> BasicSR EDVR {params: ...}')
    p.add_argument('--prefix', default='generator.',
                   help='prefix of the network\'s keys in the input (default: generator.; '
                   "'stage1.generator.' for the first stage of a CascadeRestorer)")
    return p


def _bsstnet_from_official(args):
    from vdeblur_mm.models.editors.bsstnet.convert import bsstnet_from_official
    # the generator only: the model would also need the flow estimator's weights
    generator = _build_model(args.config, 'generator')
    n = bsstnet_from_official(args.input, args.output, prefix=args.prefix, generator=generator)
    return f'{n} tensors' + (', matches the config' if generator is not None else '')


def _bsstnet_to_official(args):
    from vdeblur_mm.models.editors.bsstnet.convert import bsstnet_to_official
    return f'{bsstnet_to_official(args.input, args.output, prefix=args.prefix)} tensors'


def _add_bsstnet_from_official(sub):
    p = sub.add_parser('bsstnet-from-official',
                       help='official BSSTNet checkpoint (BSST_gopro.pth) -> BSSTNetDeblur')
    p.add_argument('--config', help="also check the result against this config's generator")
    p.add_argument('--prefix', default='generator.',
                   help='prefix of the written keys (default: generator.)')
    return p


def _add_bsstnet_to_official(sub):
    p = sub.add_parser('bsstnet-to-official',
                       help='BSSTNetDeblur checkpoint -> official BSST {params: ...}')
    p.add_argument('--prefix', default='generator.',
                   help="prefix of the network's keys in the input (default: generator.)")
    return p


def _fmanet_from_official(args):
    from vdeblur_mm.models.editors.fmanet.convert import fmanet_from_official
    generator = _build_model(args.config, 'generator')
    n = fmanet_from_official(args.input, args.output, src_r=args.net_r, prefix=args.prefix,
                             generator=generator)
    return f'{n} tensors, RGB order' + (', matches the config' if generator is not None else '')


def _fmanet_to_official(args):
    from vdeblur_mm.models.editors.fmanet.convert import fmanet_to_official
    n = fmanet_to_official(args.input, args.output, dst_r=args.net_r_output, prefix=args.prefix)
    return f'{n} tensors, BGR order' + (f', NetR in {args.net_r_output}' if args.net_r_output
                                        else '')


def _add_fmanet_from_official(sub):
    p = sub.add_parser('fmanet-from-official',
                       help='official FMA-Net model_D_*.pt (+ model_R_*.pt) -> FMANetVSRDB')
    p.add_argument('--net-r', help='the model_R_*.pt of the same stage-2 run (omit for a '
                   'stage-1 NetD)')
    p.add_argument('--config', help="also check the result against this config's generator")
    p.add_argument('--prefix', default='generator.',
                   help='prefix of the written keys (default: generator.)')
    return p


def _add_fmanet_to_official(sub):
    p = sub.add_parser('fmanet-to-official',
                       help='FMANetVSRDB checkpoint -> official model_D (+ model_R) files')
    p.add_argument('--net-r-output', help='where to write NetR (model_R_*.pt) of a stage-2 '
                   'checkpoint')
    p.add_argument('--prefix', default='generator.',
                   help="prefix of the network's keys in the input (default: generator.)")
    return p


def _vddiff_from_official(args):
    from vdeblur_mm.models.editors.vddiff.convert import vddiff_from_official
    generator = _build_model(args.config, 'generator')
    n = vddiff_from_official(args.input, args.output, prefix=args.prefix, generator=generator)
    return f'{n} tensors' + (', matches the config' if generator is not None else '')


def _vddiff_to_official(args):
    from vdeblur_mm.models.editors.vddiff.convert import vddiff_to_official
    n = vddiff_to_official(args.input, args.output, prefix=args.prefix,
                           timesteps=args.timesteps, linear_start=args.linear_start,
                           linear_end=args.linear_end)
    return f'{n} tensors'


def _add_vddiff_from_official(sub):
    p = sub.add_parser('vddiff-from-official',
                       help='official VD-Diff net_g_*.pth (S1/S2/S3_arch) -> VDDiffDeblur')
    p.add_argument('--config', help="also check the result against this config's generator "
                   "(its stage: 's1' for a stage-1 checkpoint)")
    p.add_argument('--prefix', default='generator.',
                   help='prefix of the written keys (default: generator.)')
    return p


def _add_vddiff_to_official(sub):
    p = sub.add_parser('vddiff-to-official',
                       help='VDDiffDeblur checkpoint -> official VD-Diff {params: ...}')
    p.add_argument('--prefix', default='generator.',
                   help="prefix of the network's keys in the input (default: generator.)")
    p.add_argument('--timesteps', type=int, default=4,
                   help='diffusion steps of the schedule buffers written (default: 4)')
    p.add_argument('--linear-start', type=float, default=0.1)
    p.add_argument('--linear-end', type=float, default=0.99)
    return p


def _raft(direction):
    def run(args):
        import torch

        from vdeblur_mm.models.editors.bsstnet.raft_convert import (
            convert_raft_torchvision_to_official,
            load_raft_state_dict,
        )
        state = load_raft_state_dict(args.input)  # either layout -> torchvision's
        if direction == 'to-official':
            state = {'module.' + k: v
                     for k, v in convert_raft_torchvision_to_official(state).items()}
        torch.save(state, args.output)
        return f'{len(state)} tensors, ' + ('princeton-vl layout' if direction == 'to-official'
                                            else 'torchvision layout')
    return run


def _add_raft(name, help_text):
    def add(sub):
        return sub.add_parser(name, help=help_text)
    return add


#: sub-command -> (argument parser builder, runner returning a one-line summary)
COMMANDS = {
    'edvr-from-basicsr': (_add_edvr_from_basicsr, _edvr_from_basicsr),
    'edvr-to-basicsr': (_add_edvr_to_basicsr, _edvr_to_basicsr),
    'bsstnet-from-official': (_add_bsstnet_from_official, _bsstnet_from_official),
    'bsstnet-to-official': (_add_bsstnet_to_official, _bsstnet_to_official),
    'fmanet-from-official': (_add_fmanet_from_official, _fmanet_from_official),
    'fmanet-to-official': (_add_fmanet_to_official, _fmanet_to_official),
    'vddiff-from-official': (_add_vddiff_from_official, _vddiff_from_official),
    'vddiff-to-official': (_add_vddiff_to_official, _vddiff_to_official),
    'raft-from-official': (_add_raft('raft-from-official',
                                     'official RAFT (raft-things.pth) -> torchvision raft_large'),
                           _raft('from-official')),
    'raft-to-official': (_add_raft('raft-to-official',
                                   'torchvision raft_large -> official RAFT (module.* keys)'),
                         _raft('to-official')),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND',
                                help=', '.join(COMMANDS))
    for name, (add, _) in COMMANDS.items():
        p = add(sub)
        p.add_argument('input', help='checkpoint to convert')
        p.add_argument('output', help='converted checkpoint to write')
        p.add_argument('--force', action='store_true', help='overwrite an existing output')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from vdeblur_mm.utils.checkpoint import CheckpointConversionError
    if not osp.isfile(args.input):
        raise SystemExit(f'error: input checkpoint {args.input} does not exist')
    if osp.exists(args.output) and not args.force:
        raise SystemExit(f'error: {args.output} exists (use --force to overwrite)')
    if osp.dirname(args.output):
        os.makedirs(osp.dirname(args.output), exist_ok=True)
    try:
        summary = COMMANDS[args.command][1](args)
    except (CheckpointConversionError, KeyError, ValueError, FileNotFoundError) as exc:
        raise SystemExit(f'error: {args.command}: {exc}')
    print(f'{args.command}: wrote {args.output} ({summary})')


if __name__ == '__main__':
    main(sys.argv[1:])
