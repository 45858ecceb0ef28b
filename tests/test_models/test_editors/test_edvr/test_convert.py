"""BasicSR <-> EDVRDeblurNet checkpoint conversion, the official layout and its parameter count."""
import importlib.util
import os.path as osp
import re

import pytest
import torch
from mmagic.registry import MODELS
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from vdeblur_mm.models.editors.edvr import EDVRDeblurNet
from vdeblur_mm.models.editors.edvr.convert import (
    _OURS,
    _THEIRS,
    BASICSR_KEY_MAP,
    CheckpointConversionError,
    basicsr_edvr_param_shapes,
    basicsr_key_to_ours,
    count_params,
    edvr_from_basicsr,
    edvr_to_basicsr,
    infer_basicsr_edvr_hparams,
    our_key_to_basicsr,
)

from .basicsr_reference import basicsr_edvr_forward, random_basicsr_state

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))

TINY_BASICSR = dict(num_feat=16, num_frame=3, deformable_groups=2, num_extract_block=2,
                    num_reconstruct_block=2, hr_in=True, with_predeblur=True, with_tsa=True)
TINY_OURS = dict(mid_channels=16, num_frames=3, deform_groups=2, num_extract_block=2,
                 num_reconstruct_block=2, hr_in=True, with_predeblur=True, with_tsa=True)
EDVR_L_DEBLUR = dict(num_feat=128, num_frame=5, deformable_groups=8, num_extract_block=5,
                     num_reconstruct_block=40, hr_in=True, with_predeblur=True, with_tsa=True)

VARIANTS = [
    dict(hr_in=True, with_predeblur=True, with_tsa=True),
    dict(hr_in=True, with_predeblur=True, with_tsa=False),
    dict(hr_in=False, with_predeblur=True, with_tsa=True),
    dict(hr_in=False, with_predeblur=False, with_tsa=True),
    dict(hr_in=False, with_predeblur=False, with_tsa=False),
]


def ours_for(hparams):
    torch.manual_seed(0)
    return EDVRDeblurNet(mid_channels=hparams['num_feat'], num_frames=hparams['num_frame'],
                         deform_groups=hparams['deformable_groups'],
                         num_extract_block=hparams['num_extract_block'],
                         num_reconstruct_block=hparams['num_reconstruct_block'],
                         hr_in=hparams['hr_in'], with_predeblur=hparams['with_predeblur'],
                         with_tsa=hparams['with_tsa'])


@pytest.mark.parametrize('variant', VARIANTS)
def test_key_map_is_a_bijection_onto_the_official_layout(variant):
    hparams = dict(TINY_BASICSR, **variant)
    net = ours_for(hparams)
    official = basicsr_edvr_param_shapes(**hparams)
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    mapped = {our_key_to_basicsr(k): s for k, s in ours.items()}
    assert mapped == dict(official)
    assert {basicsr_key_to_ours(k) for k in official} == set(ours)
    # every key matches exactly one rule, in both directions
    for keys, rules in ((ours, _OURS), (official, _THEIRS)):
        for key in keys:
            assert sum(bool(r.match(key)) for r, _ in rules) == 1, key
    assert infer_basicsr_edvr_hparams(random_basicsr_state(**hparams)) == dict(
        num_in_ch=3, num_out_ch=3, **hparams)


def test_edvr_l_deblur_layout_and_parameter_count():
    """EDVR-L deblur (BasicSR EDVR_L_deblur_REDS): official keys/shapes == ours, mapped."""
    official = basicsr_edvr_param_shapes(**EDVR_L_DEBLUR)
    assert count_params(official) == 23_602_019
    net = ours_for(EDVR_L_DEBLUR)
    assert sum(p.numel() for p in net.parameters()) == 23_602_019
    mapped = {our_key_to_basicsr(k): tuple(v.shape) for k, v in net.state_dict().items()}
    assert list(mapped) == list(official) and mapped == dict(official)
    assert len(official) == 306


def test_unknown_keys_are_rejected():
    with pytest.raises(CheckpointConversionError, match="unexpected key 'pcd_align.foo.weight'"):
        basicsr_key_to_ours('pcd_align.foo.weight')
    with pytest.raises(CheckpointConversionError, match='no EDVRDeblurNet parameter'):
        our_key_to_basicsr('fusion.feat_fusion.weight')  # ours has .conv. there
    assert all(len(pair) == 2 for pair in BASICSR_KEY_MAP)


@pytest.fixture
def official_ckpt(tmp_path):
    state = random_basicsr_state(seed=3, **TINY_BASICSR)
    path = str(tmp_path / 'edvr_official.pth')
    torch.save(dict(params=state), path)
    return path, state


def build_model(**generator):
    init_default_scope('mmagic')
    return MODELS.build(dict(
        type='EDVRDeblur', generator=dict(type='EDVRDeblurNet', **generator),
        pixel_loss=dict(type='CharbonnierLoss', reduction='sum'),
        data_preprocessor=dict(type='DataPreprocessor', mean=[0.] * 3, std=[255.] * 3)))


def test_round_trip_and_identical_outputs(official_ckpt, tmp_path):
    src, state = official_ckpt
    ours_path = str(tmp_path / 'ours.pth')
    model = build_model(**TINY_OURS)
    kwargs = edvr_from_basicsr(src, ours_path, model=model)
    assert kwargs == dict(in_channels=3, out_channels=3, **TINY_OURS)
    ckpt = torch.load(ours_path, map_location='cpu')
    assert set(ckpt) == {'state_dict', 'meta'}
    assert all(k.startswith('generator.') for k in ckpt['state_dict'])
    assert ckpt['meta']['source_key'] == 'params'
    assert ckpt['meta']['generator'] == dict(type='EDVRDeblurNet', **kwargs)

    # what tools/test.py does (load_from): strict load, no missing keys
    load_checkpoint(model, ours_path, map_location='cpu', strict=True)
    model.eval()
    x = torch.rand(1, 3, 3, 32, 48)
    with torch.no_grad():
        out = model(x, mode='tensor')
    torch.testing.assert_close(out, basicsr_edvr_forward(state, x, True, True, True),
                               atol=1e-4, rtol=1e-4)

    # and back: identical tensors under the official names
    back = str(tmp_path / 'back.pth')
    hparams = edvr_to_basicsr(ours_path, back)
    assert hparams == infer_basicsr_edvr_hparams(state)
    restored = torch.load(back, map_location='cpu')['params']
    assert list(restored) == list(state)
    assert all(torch.equal(restored[k], state[k]) for k in state)

    # our net loaded from the re-exported file behaves identically
    net2 = EDVRDeblurNet(**TINY_OURS).eval()
    net2.load_state_dict({basicsr_key_to_ours(k): v for k, v in restored.items()})
    with torch.no_grad():
        torch.testing.assert_close(net2(x), out, atol=0, rtol=0)


def test_params_ema_and_bare_state_dicts(official_ckpt, tmp_path):
    _, state = official_ckpt
    ema = {k: v + 1 for k, v in state.items()}
    both = str(tmp_path / 'both.pth')
    torch.save(dict(params=state, params_ema=ema), both)
    out = str(tmp_path / 'out.pth')
    edvr_from_basicsr(both, out, key='params_ema')
    got = torch.load(out)['state_dict']
    key = 'generator.' + basicsr_key_to_ours('conv_hr.weight')
    assert torch.equal(got[key], ema['conv_hr.weight'])
    only_ema = str(tmp_path / 'ema.pth')
    torch.save(dict(params_ema=ema), only_ema)
    edvr_from_basicsr(only_ema, out)
    assert torch.load(out)['meta']['source_key'] == 'params_ema'
    bare = str(tmp_path / 'bare.pth')
    torch.save(state, bare)
    edvr_from_basicsr(bare, out)
    assert torch.load(out)['meta']['source_key'] is None
    with pytest.raises(CheckpointConversionError, match="no 'params_ema' entry"):
        edvr_from_basicsr(bare, out, key='params_ema')


def test_clear_errors(official_ckpt, tmp_path):
    _, state = official_ckpt
    out = str(tmp_path / 'out.pth')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        edvr_from_basicsr(str(tmp_path / 'nope.pth'), out)

    def write(d):
        path = str(tmp_path / 'bad.pth')
        torch.save(dict(params=d), path)
        return path

    missing = dict(state)
    del missing['fusion.spatial_attn3.bias']
    with pytest.raises(CheckpointConversionError, match=r'missing keys: fusion.spatial_attn3'):
        edvr_from_basicsr(write(missing), out)
    extra = dict(state, **{'pcd_align.extra.weight': torch.zeros(1)})
    with pytest.raises(CheckpointConversionError, match=r'unexpected keys: pcd_align.extra'):
        edvr_from_basicsr(write(extra), out)
    wrong = dict(state, **{'fusion.spatial_attn3.weight': torch.zeros(16, 16, 1, 1)})
    with pytest.raises(CheckpointConversionError,
                       match=re.escape('fusion.spatial_attn3.weight: (16, 16, 1, 1) vs '
                                       'expected (16, 16, 3, 3)')):
        edvr_from_basicsr(write(wrong), out)
    with pytest.raises(CheckpointConversionError, match='not a BasicSR EDVR checkpoint'):
        edvr_from_basicsr(write({'weight': torch.zeros(1)}), out)
    # a model with other hyper-parameters
    with pytest.raises(CheckpointConversionError, match='shape mismatches'):
        edvr_from_basicsr(write(state), out, model=build_model(**dict(TINY_OURS,
                                                                       mid_channels=8)))
    with pytest.raises(CheckpointConversionError, match="no key starts with 'generator.'"):
        torch.save({'state_dict': {'stage1.generator.conv_hr.weight': torch.zeros(1)}}, out)
        edvr_to_basicsr(out, str(tmp_path / 'x.pth'))


def load_cli():
    path = osp.join(ROOT, 'tools', 'convert_checkpoint.py')
    import sys
    sys.path.insert(0, osp.dirname(path))
    spec = importlib.util.spec_from_file_location('convert_checkpoint_cli', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_command_line(official_ckpt, tmp_path, capsys):
    cli = load_cli()
    src, state = official_ckpt
    ours, back = str(tmp_path / 'a' / 'ours.pth'), str(tmp_path / 'back.pth')
    cli.main(['edvr-from-basicsr', src, ours])
    assert 'wrote' in capsys.readouterr().out and osp.isfile(ours)
    with pytest.raises(SystemExit, match='exists'):
        cli.main(['edvr-from-basicsr', src, ours])
    cli.main(['edvr-to-basicsr', ours, back])
    restored = torch.load(back)['params']
    assert all(torch.equal(restored[k], state[k]) for k in state)
    with pytest.raises(SystemExit, match='does not exist'):
        cli.main(['edvr-from-basicsr', str(tmp_path / 'missing.pth'), str(tmp_path / 'o.pth')])
    bad = str(tmp_path / 'bad.pth')
    torch.save({'params': {'conv_l2_1.weight': torch.zeros(16, 16, 3, 3)}}, bad)
    with pytest.raises(SystemExit, match='edvr-from-basicsr: .*missing key'):
        cli.main(['edvr-from-basicsr', bad, str(tmp_path / 'o.pth')])
    cfg = osp.join(ROOT, 'configs', 'edvr_deblur', 'edvr-deblur_c16b1_1xb1-300i_synthetic.py')
    # the config has 1 + 1 blocks, the checkpoint 2 + 2
    with pytest.raises(SystemExit, match='does not match .* unexpected keys: generator.feature_'):
        cli.main(['edvr-from-basicsr', src, str(tmp_path / 'o.pth'), '--config', cfg])
    with pytest.raises(SystemExit):
        cli.main(['no-such-format', src, str(tmp_path / 'o.pth')])
