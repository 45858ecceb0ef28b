"""One sub-package per method: ``<model>_net.py`` (network) and ``<model>.py`` (model wrapper)."""
from . import cascade  # noqa: F401
from . import edvr  # noqa: F401
