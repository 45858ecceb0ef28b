"""BSSTNet generator, model wrapper, test procedure and checkpoint conversion."""
import copy
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmagic.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from vdeblur_mm.models.editors.bsstnet.bsstnet_blur_map import blur_map_from_flows, save_blur_maps
from vdeblur_mm.models.editors.bsstnet.bsstnet_flow import DISFlowEstimator, neighbour_flows
from vdeblur_mm.models.editors.bsstnet.convert import (
    UNUSED_PREFIXES,
    bsstnet_from_official,
    bsstnet_to_official,
    convert_bsstnet_official_to_ours,
    convert_bsstnet_ours_to_official,
)
from vdeblur_mm.models.layers import tile_starts
from vdeblur_mm.models.layers.stitching import chunk_spans

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))
TINY = osp.join(ROOT, 'configs', 'bsstnet', 'bsstnet_c24_1xb1-300i_synthetic.py')
GOPRO = osp.join(ROOT, 'configs', 'bsstnet', 'bsstnet_c192_8xb1-600k_gopro.py')


def build(path, **generator_overrides):
    cfg = Config.fromfile(path)
    init_default_scope('mmagic')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.flow_estimator = dict(type='DISFlowEstimator', preset='fast')
    model_cfg.generator.update(generator_overrides)
    return MODELS.build(model_cfg)


@pytest.fixture(scope='module')
def tiny():
    torch.manual_seed(0)
    return build(TINY)


def textured(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.random((h // 4, w // 4, 3)).astype(np.float32)
    import cv2
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def test_tiny_forward_gradients_and_clip_independence(tiny):
    x = torch.rand(2, 4, 3, 64, 64)
    out = tiny.forward_tensor(x)
    assert out.shape == x.shape
    out.abs().mean().backward()
    missing = [n for n, p in tiny.named_parameters() if p.grad is None]
    assert not missing
    # the shift decoder treats frames as its batch: clips of a batch must not mix
    tiny.zero_grad()
    with torch.no_grad():
        single = tiny.forward_tensor(x[1:])
    assert torch.allclose(out[1:].detach(), single, atol=1e-5)


def test_flow_estimator_is_frozen_and_outside_the_state_dict(tiny):
    assert not any(k.startswith('flow_estimator') for k in tiny.state_dict())
    assert isinstance(tiny.flow_estimator, DISFlowEstimator)
    assert not any('flow_estimator' in n for n, _ in tiny.named_parameters())


def test_blur_map_is_high_where_the_motion_is(tmp_path):
    """A textured square moves 3 px/frame on a static textured background: the blur map from
    DIS flows is high on the square and low on the background."""
    bg, fg = textured(96, 96, 0), textured(32, 32, 1)
    frames = []
    for t in range(5):
        img = bg.copy()
        x0 = 16 + 3 * t
        img[32:64, x0:x0 + 32] = fg
        frames.append(img)
    clip = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)[None]
    fw, bw = neighbour_flows(DISFlowEstimator('medium'), clip, 1.0, 1.0)
    blur = blur_map_from_flows(fw, bw, eps=1e-6)[0, 2, 0]
    moving = blur[36:60, 30:46].mean()
    static = torch.cat([blur[:24].flatten(), blur[72:].flatten()]).mean()
    assert moving > 0.3 and static < 0.05, (moving, static)
    paths = save_blur_maps(blur_map_from_flows(fw, bw, 1e-6)[0], str(tmp_path))
    assert len(paths) == 5 and all(osp.isfile(p) for p in paths)


def test_bad_inputs_raise_clear_errors(tiny):
    gen = tiny.generator
    flows = torch.zeros(1, 3, 2, 16, 16)
    with pytest.raises(ValueError, match='divisible by 16'):
        gen(torch.rand(1, 4, 3, 60, 64), flows, flows)
    with pytest.raises(ValueError, match='at least 2 frames'):
        gen(torch.rand(1, 1, 3, 64, 64), flows[:, :0], flows[:, :0])
    with pytest.raises(ValueError, match='flows_forward must be'):
        gen(torch.rand(1, 4, 3, 64, 64), flows[:, :2], flows)
    with pytest.raises(ValueError, match=r'\(n, t, 3, h, w\)'):
        gen(torch.rand(4, 3, 64, 64), flows, flows)


def test_chunks_and_tiles_cover_everything_once():
    for length, chunk, overlap in ((100, 48, 4), (48, 48, 4), (10, 48, 4), (97, 8, 2)):
        covered = []
        for start, keep_from, keep_to in chunk_spans(length, chunk, overlap):
            assert start >= 0 and start + min(chunk, length) <= length
            covered += list(range(start + keep_from, start + keep_to))
        assert covered == list(range(length))
    assert tile_starts(720, 256, 64) == [0, 192, 384, 464]
    assert tile_starts(200, 256, 64) == [0]


def test_paper_test_procedure_stitches_exactly():
    """With a per-pixel stand-in network, chunked + tiled restoration equals the direct one."""
    class PerPixel(torch.nn.Module):

        def forward(self, lqs, flows_forward, flows_backward):
            assert flows_forward.shape[-2:] == (lqs.shape[-2] // 4, lqs.shape[-1] // 4)
            assert lqs.shape[1] <= 8 and max(lqs.shape[-2:]) <= 64  # chunks and tiles
            return lqs * 2 + 1

    model = build(TINY)
    model.generator = PerPixel()
    x = torch.rand(1, 19, 3, 150, 100)  # not multiples of 16: padded and cropped back
    out = model.restore_video(x)
    assert out.shape == x.shape
    assert torch.allclose(out, x * 2 + 1, atol=1e-6)


def test_tiny_val_step_restores_whole_videos_and_trains(tiny):
    from mmagic.structures import DataSample
    from mmengine.optim import OptimWrapper
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (10, 3, 64, 72), generator=g).float()
    data = dict(inputs=[frames], data_samples=[DataSample(gt_img=frames.clone())])
    tiny.eval()
    out = tiny.val_step(data)
    assert out[0].output.pred_img.shape == (10, 3, 64, 72)
    tiny.train()
    clip = dict(inputs=[frames[:4, :, :64, :64]],
                data_samples=[DataSample(gt_img=frames[:4, :, :64, :64].clone())])
    log = tiny.train_step(clip, OptimWrapper(torch.optim.AdamW(tiny.parameters(), lr=1e-4)))
    assert torch.isfinite(log['loss'])


def test_official_aliasing_switch_reaches_the_transformer():
    model = build(TINY, transformer_cfg=dict(
        embed_dim=32, num_heads=2, window_size=(4, 4), pool_size=(2, 2), depth=2,
        ffn_hidden=75, official_aliasing=True))
    assert model.generator.bsst.official_aliasing is True


def test_official_checkpoint_round_trip(tiny, tmp_path):
    ours = tiny.generator.state_dict()
    official = convert_bsstnet_ours_to_official(ours, 24, 16)['params']
    # the official layout: renamed transformer, size buffers, unused modules
    assert any(k.startswith('transsqattn.transformer.0.attention.query') for k in official)
    assert official['transsqattn.transformer.0.attention.mask_padding'].shape == (4, 32, 32)
    assert any(k.startswith(UNUSED_PREFIXES) for k in official)
    assert not any(k.startswith('bsst.') for k in official)
    back = convert_bsstnet_official_to_ours({'params': {'module.' + k: v
                                                        for k, v in official.items()}})
    assert back.keys() == ours.keys()
    assert all(torch.equal(back[k], ours[k]) for k in ours)

    # through files and the tool functions
    src = tmp_path / 'BSST_tiny.pth'
    torch.save({'params': official}, src)
    dst = tmp_path / 'converted.pth'
    n = bsstnet_from_official(str(src), str(dst), generator=tiny.generator)
    assert n == len(ours)
    again = build(TINY)
    state = torch.load(dst, weights_only=True)['state_dict']
    again.load_state_dict(state, strict=True)
    exported = tmp_path / 'official.pth'
    bsstnet_to_official(str(dst), str(exported))
    assert torch.load(exported, weights_only=True)['params'].keys() == official.keys()

    # the command line
    cli = tmp_path / 'cli.pth'
    proc = subprocess.run([sys.executable, 'tools/convert_checkpoint.py', 'bsstnet-from-official',
                           str(src), str(cli), '--config', TINY], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and 'matches the config' in proc.stdout, proc.stderr[-2000:]
    assert torch.load(cli, weights_only=True)['state_dict'].keys() == state.keys()

    wrong = build(TINY, mid_channels=48)
    with pytest.raises(KeyError, match='does not match'):
        bsstnet_from_official(str(src), str(tmp_path / 'x.pth'), generator=wrong.generator)


def test_official_layout_parameter_count():
    """Our GoPro generator has the official parameters minus the modules the official builds
    but never runs; exported, the layout has exactly the official count (from the official
    module shapes: 38,463,754 used + 8,271,043 unused)."""
    gen = MODELS.build(copy.deepcopy(Config.fromfile(GOPRO).model.generator))
    assert sum(p.numel() for p in gen.parameters()) == 38_463_754
    official = convert_bsstnet_ours_to_official(gen.state_dict())['params']
    buffers = ('relative_position_index', 'valid_ind_rolled', 'mask_padding')
    assert sum(v.numel() for k, v in official.items() if not k.endswith(buffers)) == \
        38_463_754 + 8_271_043


def test_gopro_config_runs_a_24_frame_256px_forward():
    """The GoPro model at paper size (24 frames of 256x256), CPU, DIS flows instead of RAFT."""
    model = build(GOPRO).eval()
    x = torch.rand(1, 24, 3, 256, 256)
    with torch.no_grad():
        out = model.forward_tensor(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
