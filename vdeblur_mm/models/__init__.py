from . import editors, layers, weight_init  # noqa: F401  (registers modules)
