from . import editors, layers  # noqa: F401  (registers modules)
