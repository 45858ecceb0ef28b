"""Start-up hook of vdeblur_mm: its compatibility fixes are in place before mmagic is imported.

mmagic's stock ``tools/train.py`` / ``tools/test.py`` import ``mmagic.utils`` before they read a
config, so a config's ``custom_imports = ['vdeblur_mm']`` comes too late for fixes that mmagic
needs at import (numpy 2 removed ``np.bool8``, which mmagic 1.2.0 uses at import time). This
module is imported at every interpreter start by ``vdeblur_mm_startup.pth``, which the package
installs into site-packages (as setuptools installs ``distutils-precedence.pth``). It costs
next to nothing: it only adds a finder to ``sys.meta_path``. When anything first imports
``mmagic``, the finder removes itself and applies
``vdeblur_mm/compat.py`` (that module imports nothing of ours, so the package itself, its
registrations and mmagic's models are not imported here). Set ``VDEBLUR_MM_NO_STARTUP=1`` to
switch the hook off.

A wheel or ``pip install .`` installs the .pth file. An editable install (``pip install -e .``)
cannot carry it: ``python -m vdeblur_mm_startup install`` writes it into the environment's
site-packages (``tools/install.sh`` does), ``... uninstall`` removes it.
"""
import os
import sys

__all__ = ['install']
PTH_NAME = 'vdeblur_mm_startup.pth'


class _CompatBeforeMMagic:
    """Meta-path finder that never finds anything: it applies the compat fixes on the first
    import of ``mmagic`` and leaves the import to the regular finders."""

    def find_spec(self, name, path=None, target=None):
        if name != 'mmagic' and not name.startswith('mmagic.'):
            return None
        remove()
        apply_compat()
        return None


def apply_compat():
    """Load ``vdeblur_mm.compat`` (registered under its own name, so that ``import vdeblur_mm``
    later finds it already there) and apply it, without running ``vdeblur_mm/__init__.py``."""
    import importlib.util
    module = sys.modules.get('vdeblur_mm.compat')
    if module is None:
        package = importlib.util.find_spec('vdeblur_mm')  # locates, does not execute
        if package is None or not package.submodule_search_locations:
            return
        path = os.path.join(list(package.submodule_search_locations)[0], 'compat.py')
        spec = importlib.util.spec_from_file_location('vdeblur_mm.compat', path)
        module = importlib.util.module_from_spec(spec)
        sys.modules['vdeblur_mm.compat'] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules['vdeblur_mm.compat']
            raise
    module.apply()


def remove():
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _CompatBeforeMMagic)]


def install():
    """Add the finder (once); a no-op when mmagic is already imported or the hook is off."""
    if os.environ.get('VDEBLUR_MM_NO_STARTUP') or 'mmagic' in sys.modules:
        return
    if not any(isinstance(f, _CompatBeforeMMagic) for f in sys.meta_path):
        sys.meta_path.insert(0, _CompatBeforeMMagic())


def _write_pth(remove_it=False):
    import sysconfig
    path = os.path.join(sysconfig.get_paths()['purelib'], PTH_NAME)
    if remove_it:
        if os.path.exists(path):
            os.remove(path)
        return path
    with open(path, 'w') as f:
        f.write('import vdeblur_mm_startup\n')
    return path


if __name__ == '__main__':
    if sys.argv[1:] not in (['install'], ['uninstall']):
        sys.exit('usage: python -m vdeblur_mm_startup install|uninstall')
    print(_write_pth(remove_it=sys.argv[1] == 'uninstall'))
else:
    install()
