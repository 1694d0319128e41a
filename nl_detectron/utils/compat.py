"""
Where detectron2 v0.6 and upstream main (or a build without C++ ops) differ, and every use of a
detectron2 name that is not public API, in one place. ``tests/utils/test_compat.py`` fails when
detectron2 changes any of them.
"""

from functools import lru_cache

from detectron2.data.build import _train_loader_from_config
from detectron2.engine import DefaultTrainer

# v0.6's DefaultTrainer leaves its SimpleTrainer's state (the optimizer's momentum) out of
# checkpoints; main saves and loads it as "_trainer".
DEFAULT_TRAINER_SAVES_OPTIMIZER = "state_dict" in vars(DefaultTrainer)


@lru_cache(maxsize=None)
def has_fast_coco_eval():
    """Whether detectron2's C++ COCOeval is there (absent in the pure-Python build of v0.6)."""
    try:
        from detectron2 import _C

        _C.COCOevalAccumulate  # noqa: B018 (the attribute is what is missing)
    except (ImportError, AttributeError, RuntimeError):
        return False
    return True


def restart_data_loader(trainer):
    """
    Make a ``SimpleTrainer`` draw from a new iterator of its data loader, from the next step on
    (v0.6 creates its iterator eagerly, main lazily).
    """
    if "_data_loader_iter_obj" in vars(trainer):
        trainer._data_loader_iter_obj = None
    else:
        trainer._data_loader_iter = iter(trainer.data_loader)


def train_loader_kwargs(cfg, mapper):
    """The keyword arguments ``build_detection_train_loader(cfg)`` would use, with ``mapper``."""
    return _train_loader_from_config(cfg, mapper=mapper)


def training_sampler_args(sampler):
    """``(size, shuffle, seed)`` a ``TrainingSampler`` was built with."""
    return sampler._size, sampler._shuffle, sampler._seed


def sampler_shard(sampler):
    """
    A ``TrainingSampler``'s infinite index stream (before sharding), this process's rank and the
    number of ranks: the rank takes every ``world_size``-th index from ``rank`` on.
    """
    return sampler._infinite_indices(), sampler._rank, sampler._world_size


def replace_resnet_stage(resnet, name, stage):
    """Put ``stage`` in place of ``resnet``'s stage ``name``, where ``forward`` will run it
    (detectron2's ``ResNet`` runs the list ``stages``, beside the registered modules)."""
    setattr(resnet, name, stage)
    resnet.stages[resnet.stage_names.index(name)] = stage
