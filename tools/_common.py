"""Shared start-up for the command-line tools: import vdeblur_mm (compat fixes, registration)
before anything imports mmagic, also when the package is not installed (run from a clone)."""
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import vdeblur_mm  # noqa: E402,F401


def load_config(path, cfg_options=None):
    """``Config.fromfile`` with a clear error for a missing file."""
    from mmengine.config import Config
    if not osp.isfile(path):
        raise SystemExit(f'error: config file {path} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def set_work_dir(cfg, config_path, work_dir=None):
    """Priority: command line > config > ./work_dirs/<config name>."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def run_command(cmd):
    """Echo and run a command (another tool of ours or mmagic's); raise if it fails."""
    print('+', ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True)
