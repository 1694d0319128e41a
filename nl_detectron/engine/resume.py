"""
What exact resumption needs beyond detectron2's checkpoints: the training data stream continues
where it stopped, and the random states are those of the iteration the checkpoint was saved at.
"""

import itertools
import logging
import random

import numpy as np
import torch
from torch.utils.data import DataLoader

from detectron2.data.samplers import TrainingSampler
from detectron2.engine import HookBase
from detectron2.utils import comm

from ..utils.compat import sampler_shard

logger = logging.getLogger(__name__)


class ResumableTrainingSampler(TrainingSampler):
    """
    detectron2's ``TrainingSampler`` (the same infinite stream of indices) that can skip the
    first ``skip`` indices of each rank's share, so a resumed training sees the images it would
    have seen had it not stopped.
    """

    def __init__(self, size, shuffle=True, seed=None):
        super().__init__(size, shuffle=shuffle, seed=seed)
        self.skip = 0

    def __iter__(self):
        indices, rank, world_size = sampler_shard(self)
        yield from itertools.islice(indices, rank + self.skip * world_size, None, world_size)


def own_base_seed_generator(loader, seed):
    """
    Give the torch ``DataLoader`` inside detectron2's train loader a generator of its own:
    otherwise each new iterator of it draws its base seed from the global torch generator,
    which a resumed training would then draw from at another point than an uninterrupted one.
    """
    data_loader = loader if isinstance(loader, DataLoader) else getattr(loader, "dataset", None)
    if isinstance(data_loader, DataLoader) and data_loader.generator is None:
        data_loader.generator = torch.Generator().manual_seed(seed)


class RandomStateHook(HookBase):
    """
    Puts every rank's python, numpy and torch random states in each checkpoint (through the
    trainer's state), and on resumption gives each rank back its own, just before the first
    resumed iteration.

    Only the main process saves checkpoints, so the ranks gather their states at the iterations
    where detectron2's ``PeriodicCheckpointer`` saves: every ``checkpoint_period`` iterations and
    the last one. Put this hook right before that checkpointer.
    """

    def __init__(self, checkpoint_period):
        self._period = checkpoint_period
        self._gathered = None  # every rank's states, at the last checkpoint iteration
        self._pending = None  # this rank's states, from the checkpoint resumed

    def after_step(self):
        next_iter = self.trainer.iter + 1
        if next_iter % self._period == 0 or next_iter >= self.trainer.max_iter:
            self._gathered = comm.all_gather(_random_states())

    def state_dict(self):
        if comm.get_world_size() == 1:  # a checkpoint saved at any iteration
            return {"ranks": [_random_states()]}
        return {"ranks": self._gathered or []}

    def load_state_dict(self, state_dict):
        # Checkpoints written before the states were per rank hold the one process's.
        ranks = state_dict.get("ranks", [state_dict])
        if len(ranks) != comm.get_world_size():
            logger.warning(
                f"The checkpoint has the random states of {len(ranks)} processes, this training "
                f"runs {comm.get_world_size()}: random states not restored, so the resumed "
                "training will not repeat an uninterrupted one exactly"
            )
            return
        # Applied in before_train: what runs between loading and training (a new data loader
        # iterator draws a seed) must not shift the restored streams.
        self._pending = ranks[comm.get_rank()]

    def before_train(self):
        if self._pending is None:
            return
        kind, keys, pos, has_gauss, cached = self._pending["numpy"]
        random.setstate(self._pending["python"])
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(self._pending["torch"])
        self._pending = None


def _random_states():
    """This process's python, numpy and torch random states, as plain data."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (kind, keys.tolist(), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
