"""Where detectron2 v0.6 and upstream main (or a build without C++ ops) differ, in one place."""
from functools import lru_cache


@lru_cache(maxsize=None)
def has_fast_coco_eval():
    """Whether detectron2's C++ COCOeval is there (absent in the pure-Python build of v0.6)."""
    try:
        from detectron2 import _C

        _C.COCOevalAccumulate  # noqa: B018 (the attribute is what is missing)
    except (ImportError, AttributeError, RuntimeError):
        return False
    return True
