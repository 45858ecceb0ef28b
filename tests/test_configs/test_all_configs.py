"""Every config parses, loads the plugin, builds its model and its datasets' pipelines."""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmagic.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)


def test_configs_exist():
    assert len(CONFIGS) >= 3


def _on_synthetic_data(ds_cfg, split, synthetic_root, synthetic_vsrdb_root, train):
    """The dataset config pointed at the synthetic data of its kind (a ConcatDataset's parts
    each): x4 VSRDB configs (FMA-Net, with flows) on the 'gopro_x4' fixture, others on the
    GoPro-layout one."""
    if ds_cfg.get('type') == 'ConcatDataset':
        for part in ds_cfg.datasets:
            _on_synthetic_data(part, split, synthetic_root, synthetic_vsrdb_root, train)
        return ds_cfg
    vsrdb = 'vsrdb' in str(ds_cfg.get('layout')) or ds_cfg.get('with_flows') or any(
        step.get('scale') == 4 for step in ds_cfg.pipeline)
    if vsrdb:
        ds_cfg.update(data_root=osp.join(synthetic_vsrdb_root, split), layout='gopro_x4')
    else:
        ds_cfg.update(data_root=osp.join(synthetic_root, split), layout='gopro', ann_file='')
    for key in ('sequences', 'exclude_sequences'):
        ds_cfg.pop(key, None)
    if train and not vsrdb:
        ds_cfg['num_input_frames'] = 2
    for step in ds_cfg.pipeline:
        if step.get('type') == 'ScaledPairedRandomCrop':
            step['gt_patch_size'] = 64  # the fixture's HR frames
    return ds_cfg


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_builds(path, synthetic_root, synthetic_vsrdb_root, raft_checkpoint):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmagic'
    assert cfg.custom_imports == dict(imports=['vdeblur_mm'], allow_failed_imports=False)
    init_default_scope('mmagic')
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.get('flow_estimator', {}).get('type') == 'RAFTFlowEstimator':
        # the configured file is the user's; without it the build names it
        if not osp.isfile(model_cfg.flow_estimator.checkpoint):
            with pytest.raises(FileNotFoundError, match='RAFT weights'):
                MODELS.build(copy.deepcopy(model_cfg))
        model_cfg.flow_estimator.checkpoint = raft_checkpoint
    model = MODELS.build(model_cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
    # the data pipelines run on the synthetic data (GoPro layout)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        split = 'train' if loader.startswith('train') else 'test'
        ds_cfg = _on_synthetic_data(copy.deepcopy(cfg[loader].dataset), split, synthetic_root,
                                    synthetic_vsrdb_root, loader.startswith('train'))
        item = DATASETS.build(ds_cfg)[0]
        assert item['inputs'].ndim == 4 and item['inputs'].shape[1] == 3


def test_tiny_config_forward_and_loss(synthetic_root):
    path = osp.join(ROOT, 'configs', 'basicvsr_pp_deblur',
                    'basicvsr-pp_c16n1_1xb1-300i_synthetic.py')
    cfg = Config.fromfile(path)
    init_default_scope('mmagic')
    model = MODELS.build(cfg.model)
    x = torch.rand(1, 2, 3, 256, 256)
    out = model(x, mode='tensor')
    assert out.shape == x.shape
    out.mean().backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if 'spynet' not in n)
