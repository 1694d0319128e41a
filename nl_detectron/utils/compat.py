"""Where detectron2 v0.6 and upstream main (or a build without C++ ops) differ, in one place."""
from functools import lru_cache

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
