"""vdeblur_mm: video-deblurring models for mmagic.

Importing the package applies the compatibility fixes (``vdeblur_mm.compat``) and registers its
datasets, transforms, metrics, hooks and models into mmagic's registries (default scope ``mmagic``).
Configs load it with ``custom_imports = dict(imports=['vdeblur_mm'], allow_failed_imports=False)``.
"""
from . import compat

compat.apply()

from . import datasets, engine, evaluation, models  # noqa: E402,F401  (registers modules)
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'compat', 'datasets', 'engine', 'evaluation', 'models']
