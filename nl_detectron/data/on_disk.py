"""
Whether the datasets a config names are on disk, checked before anything is built, so that a
missing COCO is one message naming the file, the layout and ``DETECTRON2_DATASETS`` instead of a
traceback from pycocotools minutes later.
"""

import os

from detectron2.data import DatasetCatalog, MetadataCatalog

from .demo_shapes import DEMO_DATASETS
from .lookup_shapes import LOOKUP_DATASETS
from .partner_shapes import PARTNER_DATASETS
from .relation_shapes import RELATION_DATASETS

# The built-in datasets, generated on first use.
GENERATED = DEMO_DATASETS + RELATION_DATASETS + PARTNER_DATASETS + LOOKUP_DATASETS

# Metadata fields of detectron2's built-in datasets that name a file or folder they read.
PATH_FIELDS = (
    "json_file",
    "image_root",
    "panoptic_json",
    "panoptic_root",
    "sem_seg_root",
    "dirname",
    "image_dir",
    "gt_dir",
)
DOCS = "docs/training.md, section 'Datasets'"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset named by the config is unknown, or its files are not on disk."""


def check_datasets_on_disk(names_by_key, *, skip=()):
    """
    Args:
        names_by_key (dict[str, list[str]]): the config key (``DATASETS.TRAIN``, ...) -> the
            dataset names it holds.
        skip: names checked elsewhere (``--dataset`` registrations check their files).
    Raises:
        DatasetNotFoundError: naming each dataset that is not registered or whose files are
            missing, what was looked for, and the layout expected.
    """
    missing, layout = [], []
    for key, names in names_by_key.items():
        for name in names:
            if name in skip or name in GENERATED:
                continue
            if name not in DatasetCatalog.list():
                raise DatasetNotFoundError(
                    f"{key} names dataset {name!r}, which is not registered. Register your own "
                    f"COCO-format data with --dataset {name} JSON IMAGE_ROOT, or use one of "
                    f"detectron2's built-in names ({DOCS})."
                )
            meta = MetadataCatalog.get(name)
            paths = [meta.get(field) for field in PATH_FIELDS if meta.get(field)]
            absent = [p for p in paths if not os.path.exists(p)]
            if absent:
                missing.append(f"  {key}: {name!r} needs {absent[0]}, which does not exist")
                layout += [p for p in paths if p not in layout]
    if missing:
        raise DatasetNotFoundError(_missing_message(missing, layout))


def _missing_message(missing, layout):
    env = os.environ.get("DETECTRON2_DATASETS")
    root = env or "datasets"
    where = f"$DETECTRON2_DATASETS = {env}" if env else "./datasets (DETECTRON2_DATASETS unset)"
    tree = "\n".join(
        f"    {os.path.relpath(p, root) if _under(p, root) else p}"
        f"{'' if os.path.splitext(p)[1] else '/'}"
        for p in layout
    )
    return (
        f"datasets not on disk (paths from {os.getcwd()}):\n" + "\n".join(missing) + "\n"
        f"detectron2 reads its built-in datasets from {where}, in this layout:\n"
        f"  {root}/\n{tree}\n"
        "Put them there, or set DETECTRON2_DATASETS to the folder that holds them, before "
        f"running; {DOCS}, says how to prepare COCO. Your own COCO-format data: --dataset NAME "
        "JSON IMAGE_ROOT, and NAME in the config's datasets."
    )


def _under(path, root):
    return os.path.abspath(path).startswith(os.path.abspath(root) + os.sep)
