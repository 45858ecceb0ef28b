from . import base_models, editors, layers, losses, weight_init  # noqa: F401  (registers modules)
