"""Weight initialisers usable from any config's ``init_cfg``."""
from mmengine.registry import WEIGHT_INITIALIZERS
from torch import nn


@WEIGHT_INITIALIZERS.register_module()
class ZeroInitSubmodules:
    """Zero the parameters of named (possibly nested) submodules, e.g. a restorer's last
    convolution, so that a residual network starts as the identity.

    mmengine's own ``override`` only reaches direct children; this takes dotted paths::

        init_cfg=dict(type='ZeroInitSubmodules', names=['generator.conv_last'])

    Args:
        names (list[str]): Dotted submodule paths relative to the module being initialised.
    """

    def __init__(self, names):
        if isinstance(names, str):
            names = [names]
        self.names = list(names)

    def __call__(self, module):
        for name in self.names:
            try:
                sub = module.get_submodule(name)
            except AttributeError as err:
                raise KeyError(f'ZeroInitSubmodules: {type(module).__name__} has no submodule '
                               f'{name!r}') from err
            for param in sub.parameters():
                nn.init.zeros_(param)

    def __repr__(self):
        return f'{type(self).__name__}(names={self.names})'
