"""Build hooks the declarative pyproject.toml cannot express; everything else is there.

- ``vdeblur_mm_startup.pth`` goes to the root of site-packages: it makes the compatibility fixes
  apply before mmagic's stock tools import mmagic (see ``vdeblur_mm_startup.py``).
- ``configs/``, ``tools/`` and ``model-index.yml`` are copied into ``vdeblur_mm/.mim/``, as
  mmagic ships its own, so that an installed package (wheel or ``pip install .``) carries its
  configs and ``mim search`` / ``mim train`` find them.
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))
STARTUP_PTH = 'vdeblur_mm_startup.pth'
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')


def _ignore(directory, names):
    return [n for n in names if n == '__pycache__' or n.endswith('.pyc')]


class BuildPyWithMim(build_py):

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            # an editable wheel carries no extra files: ``python -m vdeblur_mm_startup install``
            # (tools/install.sh runs it) writes the .pth; configs/ and tools/ stay in the clone
            return
        shutil.copy(os.path.join(ROOT, STARTUP_PTH), os.path.join(self.build_lib, STARTUP_PTH))
        mim = os.path.join(self.build_lib, 'vdeblur_mm', '.mim')
        os.makedirs(mim, exist_ok=True)
        for item in MIM_ITEMS:
            src, dst = os.path.join(ROOT, item), os.path.join(mim, item)
            if os.path.isdir(dst):
                shutil.rmtree(dst)
            if os.path.isdir(src):
                shutil.copytree(src, dst, ignore=_ignore)
            else:
                shutil.copy(src, dst)

    def get_outputs(self, include_bytecode=1):
        outputs = super().get_outputs(include_bytecode)
        if not getattr(self, 'editable_mode', False):
            outputs.append(os.path.join(self.build_lib, STARTUP_PTH))
        return outputs


setup(cmdclass={'build_py': BuildPyWithMim})
