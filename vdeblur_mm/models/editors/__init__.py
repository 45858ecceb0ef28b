"""One sub-package per method: ``<model>_net.py`` (network) and ``<model>.py`` (model wrapper)."""
from . import bsstnet, cascade, edvr, fmanet  # noqa: F401
