"""Random states saved with every checkpoint and restored on resume, so that a resumed run
continues the interrupted one exactly."""
import random

import numpy as np
import torch
from mmagic.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

_KEY = 'random_states'


def capture_random_states():
    """Python's, numpy's and torch's (CPU and every CUDA device's) global random states."""
    states = dict(python=random.getstate(), numpy=np.random.get_state(),
                  torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states):
    """Inverse of :func:`capture_random_states`."""
    random.setstate(states['python'])
    np.random.set_state(states['numpy'])
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and torch.cuda.is_available():
        cuda = states['cuda']
        if len(cuda) != torch.cuda.device_count():
            print_log(f'RandomStatesHook: the checkpoint holds {len(cuda)} CUDA random states, '
                      f'this machine has {torch.cuda.device_count()} devices: CUDA random '
                      'states are not restored', logger='current', level=30)
        else:
            torch.cuda.set_rng_state_all(cuda)


class _RestoreAfterAdvance:
    """Stands in for an iteration-based loop's data iterator while mmengine advances it past
    the iterations already trained; restores the random states right before the first new
    batch is drawn, then puts the real iterator back."""

    def __init__(self, loop, skip, states):
        self.loop, self.inner, self.skip, self.states = loop, loop.dataloader_iterator, skip, states

    def __iter__(self):
        return self

    def __next__(self):
        if self.skip > 0:
            self.skip -= 1
            return next(self.inner)
        restore_random_states(self.states)
        self.loop.dataloader_iterator = self.inner
        return next(self.inner)


@HOOKS.register_module()
class RandomStatesHook(Hook):
    """Save the global random states with each checkpoint; restore them when resuming.

    mmengine saves the weights, optimiser, schedulers and message hub, but not the random
    states, so a resumed run draws other crops, flips and noise than the run it continues. This
    hook stores each rank's python / numpy / torch (and CUDA) states in the checkpoint under
    ``'random_states'`` (keyed by rank). On resume they are restored right before the first new
    batch is drawn: in an iteration-based loop after mmengine has advanced the data loader past
    the iterations already trained (that advance draws random numbers too), in an epoch-based
    loop at the start of the epoch. The next iteration then sees exactly the states the
    interrupted run had. Data-loader workers need nothing more: mmengine seeds them from the
    run's seed, and they replay their streams while the loader is advanced.

    Random numbers drawn between the checkpoint and the next batch in the interrupted run (a
    validation that draws some) are not replayed. A checkpoint without states resumes as
    before, with a warning; ``load_from`` without ``resume`` restores nothing (a new run).
    """

    # after the train step and before CheckpointHook (VERY_LOW) saves
    priority = 'LOW'

    def __init__(self):
        self._pending = None
        self._gathered = None

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        # Only rank 0 writes checkpoints (mmengine's save_checkpoint is master-only, so no
        # collective can run there): with several processes every rank hands its states over
        # after each iteration, one small all-gather next to DDP's gradient all-reduce
        from mmengine.dist import all_gather_object, get_rank, get_world_size
        if get_world_size() > 1:
            self._gathered = dict(all_gather_object((get_rank(), capture_random_states())))

    def before_save_checkpoint(self, runner, checkpoint):
        from mmengine.dist import get_world_size
        if get_world_size() > 1 and self._gathered is not None:
            checkpoint[_KEY] = self._gathered
        else:
            checkpoint[_KEY] = {0: capture_random_states()}

    def after_load_checkpoint(self, runner, checkpoint):
        if not runner._resume:
            return
        from mmengine.dist import get_rank
        states, rank = checkpoint.get(_KEY), get_rank()
        if not states:
            print_log('RandomStatesHook: the checkpoint has no random states; the resumed run '
                      'will not repeat the interrupted one exactly', logger='current', level=30)
        elif rank not in states:
            print_log(f'RandomStatesHook: no random states for rank {rank} (the checkpoint '
                      f'was saved by {len(states)} processes); not restored', logger='current',
                      level=30)
        else:
            self._pending = states[rank]

    def before_train_epoch(self, runner):
        if self._pending is None:
            return
        states, self._pending = self._pending, None
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator') and loop.iter > 0:
            loop.dataloader_iterator = _RestoreAfterAdvance(loop, loop.iter, states)
        else:
            restore_random_states(states)
