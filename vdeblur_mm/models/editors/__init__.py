"""One sub-package per method: ``<model>_net.py`` (network) and ``<model>.py`` (model wrapper)."""
from . import bsstnet, cascade, divd, edvr, fmanet, frame_by_frame, vddiff  # noqa: F401
