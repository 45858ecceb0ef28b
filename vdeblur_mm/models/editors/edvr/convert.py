"""Convert EDVR checkpoints between BasicSR's key layout and ``EDVRDeblurNet``'s.

``BASICSR_KEY_MAP`` is the exact, documented name mapping (ours <-> BasicSR
``basicsr/archs/edvr_arch.py``); ``basicsr_edvr_param_shapes`` lists every parameter of
BasicSR's ``EDVR`` with its shape for given hyper-parameters, as read from that file (used to
validate checkpoints and to count the official parameters).

================================================  ==========================================
``EDVRDeblurNet`` (ours; mmagic EDVRNet names)     BasicSR ``EDVR``
================================================  ==========================================
``conv_first.*``                                  ``conv_first.*`` (without pre-deblur)
``predeblur.conv_first.*``                        ``predeblur.conv_first.*``
``predeblur.hr_down{1,2}.*``                      ``predeblur.stride_conv_hr{1,2}.*``
``predeblur.l{2,3}_down.*``                       ``predeblur.stride_conv_l{2,3}.*``
``predeblur.l3_block.conv{1,2}.*``                ``predeblur.resblock_l3.conv{1,2}.*``
``predeblur.l2_block{1,2}.conv{1,2}.*``           ``predeblur.resblock_l2_{1,2}.conv{1,2}.*``
``predeblur.l1_blocks.{0-4}.conv{1,2}.*``         ``predeblur.resblock_l1.{0-4}.conv{1,2}.*``
``predeblur_proj.*``                              ``conv_1x1.*``
``feature_extraction.{i}.conv{1,2}.*``            ``feature_extraction.{i}.conv{1,2}.*``
``feat_l{2,3}_conv{1,2}.conv.*``                  ``conv_l{2,3}_{1,2}.*``
``pcd_alignment.offset_conv{1,2,3}.l{i}.conv.*``  ``pcd_align.offset_conv{1,2,3}.l{i}.*``
``pcd_alignment.feat_conv.l{i}.conv.*``           ``pcd_align.feat_conv.l{i}.*``
``pcd_alignment.dcn_pack.l{i}.*``                 ``pcd_align.dcn_pack.l{i}.*``
``pcd_alignment.cas_offset_conv{1,2}.conv.*``     ``pcd_align.cas_offset_conv{1,2}.*``
``pcd_alignment.cas_dcnpack.*``                   ``pcd_align.cas_dcnpack.*``
``fusion.<a>.conv.*``                             ``fusion.<a>.*``
``fusion.<b>.*``                                  ``fusion.<b>.*``
``fusion.*`` (``with_tsa=False``: one 1x1 conv)   ``fusion.*``
``reconstruction.{i}.conv{1,2}.*``                ``reconstruction.{i}.conv{1,2}.*``
``upsample{1,2}.upsample_conv.*``                 ``upconv{1,2}.*``
``conv_hr.*``, ``conv_last.*``                    ``conv_hr.*``, ``conv_last.*``
================================================  ==========================================

``*`` is ``weight``/``bias``; ``<a>`` is feat_fusion, spatial_attn{1-4}, spatial_attn_l{1-3} or
spatial_attn_add1 (a ``ConvModule`` with LeakyReLU on our side), ``<b>`` temporal_attn{1,2},
spatial_attn5 or spatial_attn_add2 (plain convs on both sides). A DCN pack (ours
``ModulatedDCNPack``, BasicSR ``DCNv2Pack``) has ``weight``, ``bias``, ``conv_offset.weight``,
``conv_offset.bias`` with the same layout in both. Tensors are copied unchanged: only names
differ.
"""
import os.path as osp
import re
from collections import OrderedDict
from math import prod

import torch

from ....utils.checkpoint import CheckpointConversionError, load_checkpoint_file

# placeholder -> regex of what it may stand for (one key segment unless it says otherwise)
_FIELDS = dict(p='weight|bias', k=r'\d+', i=r'\d+', c='conv1|conv2', l='l[123]',
               dcn=r'weight|bias|conv_offset\.weight|conv_offset\.bias',
               tsa_act=r'feat_fusion|spatial_attn[1-4]|spatial_attn_l[1-3]|spatial_attn_add1',
               tsa_plain=r'temporal_attn[12]|spatial_attn5|spatial_attn_add2',
               pcd_conv=r'offset_conv[123]|feat_conv')

#: (our key template, BasicSR key template); every key matches exactly one template.
BASICSR_KEY_MAP = [
    ('conv_first.{p}', 'conv_first.{p}'),
    ('predeblur.conv_first.{p}', 'predeblur.conv_first.{p}'),
    ('predeblur.hr_down{k}.{p}', 'predeblur.stride_conv_hr{k}.{p}'),
    ('predeblur.l{k}_down.{p}', 'predeblur.stride_conv_l{k}.{p}'),
    ('predeblur.l3_block.{c}.{p}', 'predeblur.resblock_l3.{c}.{p}'),
    ('predeblur.l2_block{k}.{c}.{p}', 'predeblur.resblock_l2_{k}.{c}.{p}'),
    ('predeblur.l1_blocks.{i}.{c}.{p}', 'predeblur.resblock_l1.{i}.{c}.{p}'),
    ('predeblur_proj.{p}', 'conv_1x1.{p}'),
    ('feature_extraction.{i}.{c}.{p}', 'feature_extraction.{i}.{c}.{p}'),
    ('feat_l{k}_conv{i}.conv.{p}', 'conv_l{k}_{i}.{p}'),
    ('pcd_alignment.{pcd_conv}.{l}.conv.{p}', 'pcd_align.{pcd_conv}.{l}.{p}'),
    ('pcd_alignment.dcn_pack.{l}.{dcn}', 'pcd_align.dcn_pack.{l}.{dcn}'),
    ('pcd_alignment.cas_offset_conv{k}.conv.{p}', 'pcd_align.cas_offset_conv{k}.{p}'),
    ('pcd_alignment.cas_dcnpack.{dcn}', 'pcd_align.cas_dcnpack.{dcn}'),
    ('fusion.{tsa_act}.conv.{p}', 'fusion.{tsa_act}.{p}'),
    ('fusion.{tsa_plain}.{p}', 'fusion.{tsa_plain}.{p}'),
    ('fusion.{p}', 'fusion.{p}'),
    ('reconstruction.{i}.{c}.{p}', 'reconstruction.{i}.{c}.{p}'),
    ('upsample{k}.upsample_conv.{p}', 'upconv{k}.{p}'),
    ('conv_hr.{p}', 'conv_hr.{p}'),
    ('conv_last.{p}', 'conv_last.{p}'),
]


def _compile(template):
    parts = re.split(r'\{(\w+)\}', template)
    regex = ''.join(re.escape(p) if n % 2 == 0 else f'(?P<{p}>{_FIELDS[p]})'
                    for n, p in enumerate(parts))
    return re.compile(regex + r'\Z')


_OURS = [(_compile(a), b) for a, b in BASICSR_KEY_MAP]
_THEIRS = [(_compile(b), a) for a, b in BASICSR_KEY_MAP]


def _map_key(key, rules, what):
    for regex, target in rules:
        m = regex.match(key)
        if m:
            return target.format(**m.groupdict())
    raise CheckpointConversionError(f'unexpected key {key!r}: no {what} parameter has this '
                                    f'name')


def our_key_to_basicsr(key):
    """``EDVRDeblurNet`` parameter name -> BasicSR ``EDVR`` name."""
    return _map_key(key, _OURS, 'EDVRDeblurNet')


def basicsr_key_to_ours(key):
    """BasicSR ``EDVR`` parameter name -> ``EDVRDeblurNet`` name."""
    return _map_key(key, _THEIRS, 'BasicSR EDVR')


def basicsr_edvr_param_shapes(num_in_ch=3,
                              num_out_ch=3,
                              num_feat=64,
                              num_frame=5,
                              deformable_groups=8,
                              num_extract_block=5,
                              num_reconstruct_block=10,
                              hr_in=False,
                              with_predeblur=False,
                              with_tsa=True):
    """Every parameter of BasicSR's ``EDVR(...)`` with its shape, in BasicSR's order.

    Written from ``XPixelGroup/BasicSR basicsr/archs/edvr_arch.py`` (arguments as there). Two
    quirks of that file are kept: ``PredeblurModule`` is built with its default 3 input
    channels (``num_in_ch`` is not passed on) and ``conv_last`` always has 3 outputs
    (``num_out_ch`` is unused).

    Returns:
        OrderedDict[str, tuple[int]]: key -> shape.
    """
    shapes = OrderedDict()
    nf = num_feat

    def conv(name, cin, cout, k):
        shapes[f'{name}.weight'] = (cout, cin, k, k)
        shapes[f'{name}.bias'] = (cout, )

    def resblock(name):
        conv(f'{name}.conv1', nf, nf, 3)
        conv(f'{name}.conv2', nf, nf, 3)

    def dcn_pack(name):  # DCNv2Pack(nf, nf, 3, padding=1, deformable_groups=dg)
        shapes[f'{name}.weight'] = (nf, nf, 3, 3)
        shapes[f'{name}.bias'] = (nf, )
        conv(f'{name}.conv_offset', nf, deformable_groups * 3 * 3 * 3, 3)

    if with_predeblur:
        conv('predeblur.conv_first', 3, nf, 3)
        if hr_in:
            conv('predeblur.stride_conv_hr1', nf, nf, 3)
            conv('predeblur.stride_conv_hr2', nf, nf, 3)
        conv('predeblur.stride_conv_l2', nf, nf, 3)
        conv('predeblur.stride_conv_l3', nf, nf, 3)
        for name in ('resblock_l3', 'resblock_l2_1', 'resblock_l2_2'):
            resblock(f'predeblur.{name}')
        for i in range(5):
            resblock(f'predeblur.resblock_l1.{i}')
        conv('conv_1x1', nf, nf, 1)
    else:
        conv('conv_first', num_in_ch, nf, 3)
    for i in range(num_extract_block):
        resblock(f'feature_extraction.{i}')
    for name in ('conv_l2_1', 'conv_l2_2', 'conv_l3_1', 'conv_l3_2'):
        conv(name, nf, nf, 3)

    # PCDAlignment: ModuleDicts offset_conv1, offset_conv2, offset_conv3, dcn_pack, feat_conv
    levels = ('l3', 'l2', 'l1')
    for level in levels:
        conv(f'pcd_align.offset_conv1.{level}', 2 * nf, nf, 3)
    for level in levels:
        conv(f'pcd_align.offset_conv2.{level}', nf if level == 'l3' else 2 * nf, nf, 3)
    for level in levels[1:]:
        conv(f'pcd_align.offset_conv3.{level}', nf, nf, 3)
    for level in levels:
        dcn_pack(f'pcd_align.dcn_pack.{level}')
    for level in levels[1:]:
        conv(f'pcd_align.feat_conv.{level}', 2 * nf, nf, 3)
    conv('pcd_align.cas_offset_conv1', 2 * nf, nf, 3)
    conv('pcd_align.cas_offset_conv2', nf, nf, 3)
    dcn_pack('pcd_align.cas_dcnpack')

    if with_tsa:
        conv('fusion.temporal_attn1', nf, nf, 3)
        conv('fusion.temporal_attn2', nf, nf, 3)
        conv('fusion.feat_fusion', num_frame * nf, nf, 1)
        conv('fusion.spatial_attn1', num_frame * nf, nf, 1)
        conv('fusion.spatial_attn2', 2 * nf, nf, 1)
        conv('fusion.spatial_attn3', nf, nf, 3)
        conv('fusion.spatial_attn4', nf, nf, 1)
        conv('fusion.spatial_attn5', nf, nf, 3)
        conv('fusion.spatial_attn_l1', nf, nf, 1)
        conv('fusion.spatial_attn_l2', 2 * nf, nf, 3)
        conv('fusion.spatial_attn_l3', nf, nf, 3)
        conv('fusion.spatial_attn_add1', nf, nf, 1)
        conv('fusion.spatial_attn_add2', nf, nf, 1)
    else:
        conv('fusion', num_frame * nf, nf, 1)

    for i in range(num_reconstruct_block):
        resblock(f'reconstruction.{i}')
    conv('upconv1', nf, 4 * nf, 3)
    conv('upconv2', nf, 4 * 64, 3)
    conv('conv_hr', 64, 64, 3)
    conv('conv_last', 64, 3, 3)
    return shapes


def count_params(shapes):
    """Number of scalars in a key -> shape mapping."""
    return sum(prod(s) for s in shapes.values())


def _count_indexed(keys, prefix):
    found = {int(m.group(1)) for k in keys for m in [re.match(re.escape(prefix) + r'(\d+)\.', k)]
             if m}
    return max(found) + 1 if found else 0


def infer_basicsr_edvr_hparams(state):
    """Hyper-parameters of BasicSR's ``EDVR`` from a state dict in its layout.

    Returns:
        dict: Arguments of :func:`basicsr_edvr_param_shapes`.
    """
    def shape(key):
        if key not in state:
            raise CheckpointConversionError(f'missing key {key!r}: this is not a BasicSR EDVR '
                                            f'checkpoint (or it is truncated)')
        return tuple(state[key].shape)

    keys = list(state)
    nf = shape('conv_l2_1.weight')[0]
    with_predeblur = 'conv_1x1.weight' in state or 'predeblur.conv_first.weight' in state
    with_tsa = 'fusion.feat_fusion.weight' in state
    fusion_in = shape('fusion.feat_fusion.weight' if with_tsa else 'fusion.weight')[1]
    if fusion_in % nf:
        raise CheckpointConversionError(f'fusion input channels ({fusion_in}) are not a '
                                        f'multiple of num_feat ({nf})')
    return dict(
        num_in_ch=3 if with_predeblur else shape('conv_first.weight')[1],
        num_out_ch=shape('conv_last.weight')[0],
        num_feat=nf,
        num_frame=fusion_in // nf,
        deformable_groups=shape('pcd_align.dcn_pack.l1.conv_offset.weight')[0] // 27,
        num_extract_block=_count_indexed(keys, 'feature_extraction.'),
        num_reconstruct_block=_count_indexed(keys, 'reconstruction.'),
        hr_in='predeblur.stride_conv_hr1.weight' in state,
        with_predeblur=with_predeblur,
        with_tsa=with_tsa)


def check_state_against(state, expected, what):
    """Raise ``CheckpointConversionError`` listing missing/unexpected keys and shape mismatches.

    Args:
        state (dict[str, Tensor]): Checkpoint tensors.
        expected (dict[str, tuple]): key -> expected shape.
        what (str): Name of the expected layout for the message.
    """
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f'{k}: {tuple(state[k].shape)} vs expected {tuple(expected[k])}'
             for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k])]
    problems = []
    for title, items in (('missing keys', missing), ('unexpected keys', unexpected),
                         ('shape mismatches', wrong)):
        if items:
            shown = ', '.join(items[:8]) + (f', ... ({len(items)} in all)' if len(items) > 8
                                            else '')
            problems.append(f'{title}: {shown}')
    if problems:
        raise CheckpointConversionError(f'checkpoint does not match {what}: ' +
                                        '; '.join(problems))


def validate_basicsr_state(state):
    """Check a BasicSR-layout EDVR state dict against the official layout; return its hparams."""
    hparams = infer_basicsr_edvr_hparams(state)
    check_state_against(state, basicsr_edvr_param_shapes(**hparams),
                        f'the BasicSR EDVR layout for {hparams}')
    return hparams


def net_kwargs_from_basicsr(hparams):
    """``EDVRDeblurNet`` arguments equivalent to BasicSR ``EDVR`` hyper-parameters."""
    return dict(in_channels=hparams['num_in_ch'], out_channels=hparams['num_out_ch'],
                mid_channels=hparams['num_feat'], num_frames=hparams['num_frame'],
                deform_groups=hparams['deformable_groups'],
                num_extract_block=hparams['num_extract_block'],
                num_reconstruct_block=hparams['num_reconstruct_block'],
                hr_in=hparams['hr_in'], with_predeblur=hparams['with_predeblur'],
                with_tsa=hparams['with_tsa'])


def _tensors(state, path):
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointConversionError(f'{path}: entries that are not tensors: {bad[:5]}')
    return state


def basicsr_state_from_file(path, key=None):
    """The EDVR state dict of a BasicSR checkpoint (``params``, ``params_ema`` or bare)."""
    ckpt = load_checkpoint_file(path)
    if not isinstance(ckpt, dict):
        raise CheckpointConversionError(f'{path} holds a {type(ckpt).__name__}, not a dict')
    if key is not None:
        if key not in ckpt:
            raise CheckpointConversionError(f'{path} has no {key!r} entry (it has '
                                            f'{sorted(ckpt)[:10]})')
        return _tensors(ckpt[key], path), key
    for k in ('params', 'params_ema'):
        if k in ckpt and isinstance(ckpt[k], dict):
            return _tensors(ckpt[k], path), k
    return _tensors(ckpt, path), None


def convert_basicsr_to_ours(state, prefix='generator.'):
    """BasicSR EDVR state dict -> ``{prefix + our key: tensor}`` (validated), and hparams."""
    hparams = validate_basicsr_state(state)
    return OrderedDict((prefix + basicsr_key_to_ours(k), v) for k, v in state.items()), hparams


def convert_ours_to_basicsr(state, prefix='generator.'):
    """``{prefix + our key: tensor}`` (other keys ignored) -> validated BasicSR state dict."""
    ours = OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))
    if not ours:
        raise CheckpointConversionError(f'no key starts with {prefix!r} (keys: '
                                        f'{list(state)[:5]}...)')
    out = OrderedDict((our_key_to_basicsr(k), v) for k, v in ours.items())
    hparams = validate_basicsr_state(out)
    return out, hparams


def check_against_model(state, model, prefix='generator.'):
    """Check converted weights against the parameters of ``model`` under ``prefix``."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if k.startswith(prefix)}
    if not expected:
        raise CheckpointConversionError(f'the model {model.__class__.__name__} has no key '
                                        f'starting with {prefix!r}')
    check_state_against(state, expected,
                        f'the {prefix!r} weights of the model {model.__class__.__name__}')


def edvr_from_basicsr(src, dst, key=None, prefix='generator.', model=None):
    """Write an mmengine checkpoint ``{'state_dict', 'meta'}`` from a BasicSR EDVR checkpoint.

    Args:
        src (str): BasicSR checkpoint (``params`` / ``params_ema`` / bare state dict).
        dst (str): Output path.
        key (str, optional): Entry of ``src`` to read; None tries ``params``, ``params_ema``,
            then the whole file.
        prefix (str): Prefix of the output keys (the generator in an ``EDVRDeblur`` model).
        model (nn.Module, optional): If given, the output must match its ``prefix`` weights
            exactly (keys and shapes).

    Returns:
        dict: The hyper-parameters found (``EDVRDeblurNet`` arguments).
    """
    state, used = basicsr_state_from_file(src, key)
    converted, hparams = convert_basicsr_to_ours(state, prefix)
    if model is not None:
        check_against_model(converted, model, prefix)
    kwargs = net_kwargs_from_basicsr(hparams)
    meta = dict(converted_from='BasicSR EDVR', source=osp.abspath(src), source_key=used,
                generator=dict(type='EDVRDeblurNet', **kwargs))
    torch.save(dict(state_dict=converted, meta=meta), dst)
    return kwargs


def edvr_to_basicsr(src, dst, prefix='generator.'):
    """Write a BasicSR checkpoint ``{'params': ...}`` from one of ours (mmengine or bare).

    Returns:
        dict: BasicSR ``EDVR`` hyper-parameters of the weights.
    """
    ckpt = load_checkpoint_file(src)
    if not isinstance(ckpt, dict):
        raise CheckpointConversionError(f'{src} holds a {type(ckpt).__name__}, not a dict')
    state = ckpt.get('state_dict', ckpt)
    converted, hparams = convert_ours_to_basicsr(state, prefix)
    torch.save(dict(params=converted), dst)
    return hparams
