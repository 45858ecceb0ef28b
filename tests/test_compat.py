import subprocess
import sys

import numpy as np
import torch
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import load_checkpoint, save_checkpoint

import vdeblur_mm  # noqa: F401


def test_numpy_alias():
    assert np.bool8 is np.bool_


def test_mmengine_checkpoint_loads_with_weights_only_default(tmp_path):
    hub = MessageHub.get_instance('compat_test')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/lr', 1e-3)
    state = dict(state_dict=dict(w=torch.ones(2)), message_hub=hub.state_dict(),
                 meta=dict(iter=3, seed=np.int64(7), arr=np.arange(3, dtype=np.float32)))
    path = str(tmp_path / 'ckpt.pth')
    save_checkpoint(state, path)
    # mmengine calls torch.load without weights_only; torch>=2.6 defaults to True
    loaded = torch.load(path)
    assert loaded['meta']['iter'] == 3 and loaded['message_hub']['log_scalars']
    model = torch.nn.Linear(1, 2, bias=False)
    torch.nn.init.zeros_(model.weight)
    save_checkpoint(dict(state_dict=dict(weight=torch.ones(2, 1)), message_hub=hub.state_dict()),
                    path)
    load_checkpoint(model, path, map_location='cpu')
    assert torch.equal(model.weight, torch.ones(2, 1))


def test_cpu_ddp_drops_device_ids(tmp_path):
    """mmengine's Runner wraps with device_ids=[LOCAL_RANK]; DDP rejects it for CPU modules."""
    import torch.distributed as dist
    from mmengine.model import BaseModel, MMDistributedDataParallel

    class Tiny(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)

        def forward(self, *args, **kwargs):
            return self.fc(*args)

    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store', rank=0,
                            world_size=1)
    try:
        model = MMDistributedDataParallel(module=Tiny(), device_ids=[0],
                                          broadcast_buffers=False)
        assert model.device_ids is None
        assert model(torch.ones(1, 2)).shape == (1, 2)
    finally:
        dist.destroy_process_group()


def test_runner_style_message_hub_has_no_functions(tmp_path):
    """Runner checkpoints pickle HistoryBuffers; they must load with weights_only=True."""
    import pickletools
    import zipfile
    hub = MessageHub.get_instance('compat_pickle')
    for i in range(3):
        hub.update_scalar('train/loss', 0.1 * i)
    path = str(tmp_path / 'hub.pth')
    torch.save(dict(message_hub=hub.state_dict()), path)
    with zipfile.ZipFile(path) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith('data.pkl')))
    globals_ = {str(arg) for op, arg, _ in pickletools.genops(data)
                if op.name in ('GLOBAL', 'STACK_GLOBAL')}
    assert not any('getattr' in g for g in globals_)
    buf = torch.load(path)['message_hub']['log_scalars']['train/loss']
    assert buf.statistics('mean') == np.mean([0.0, 0.1, 0.2])
    assert buf.max() == 0.2


def test_start_is_quiet_but_other_warnings_still_show():
    code = ('import warnings, vdeblur_mm, mmagic.models\n'
            'warnings.warn("a FutureWarning of ours", FutureWarning)\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert '_register_pytree_node' not in proc.stderr
    assert 'a FutureWarning of ours' in proc.stderr
