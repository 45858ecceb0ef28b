from . import base_models, editors, layers, weight_init  # noqa: F401  (registers modules)
