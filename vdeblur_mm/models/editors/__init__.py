"""One sub-package per method: ``<model>_net.py`` (network) and ``<model>.py`` (model wrapper)."""
