"""Any COCO-format dataset (boxes, masks, keypoints) registered by name, from the command line."""
import json
import logging
import os

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json

logger = logging.getLogger(__name__)


class DatasetError(ValueError):
    pass


def read_coco_json(json_file):
    """
    The parsed JSON, checked for what detectron2 needs of it.

    Raises:
        DatasetError: naming the file, when it is missing, not JSON, or lacks COCO's keys.
    """
    if not os.path.isfile(json_file):
        raise DatasetError(f"{json_file}: dataset JSON file not found")
    try:
        with open(json_file) as f:
            coco = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{json_file}: not a valid JSON file ({e})") from None
    missing = [k for k in ("images", "annotations", "categories") if k not in coco]
    if not isinstance(coco, dict) or missing:
        raise DatasetError(f"{json_file}: not a COCO dataset, missing keys {missing}")
    return coco


def keypoint_metadata(categories):
    """
    Keypoint names (from the first category that lists them) and the flip map of the names that
    differ only by "left"/"right", as detectron2's metadata wants them; {} without keypoints.
    """
    names = next((c["keypoints"] for c in categories if c.get("keypoints")), None)
    if not names:
        return {}
    flip_map = [(n, n.replace("left", "right")) for n in names
                if "left" in n and n.replace("left", "right") in names]
    return {"keypoint_names": list(names), "keypoint_flip_map": flip_map}


def register_coco_json(name, json_file, image_root):
    """
    Register ``name`` for a COCO-format ``json_file`` with images under ``image_root``. The JSON
    is checked now, so a bad file fails before training starts; class names, keypoint names and
    the keypoint flip map come from its categories.
    """
    if not os.path.isdir(image_root):
        raise DatasetError(f"{image_root}: image folder of dataset {name!r} not found")
    coco = read_coco_json(json_file)
    categories = sorted(coco["categories"], key=lambda c: c["id"])
    DatasetCatalog.register(name, lambda: load_coco_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(
        json_file=json_file,
        image_root=image_root,
        evaluator_type="coco",
        thing_classes=[c["name"] for c in categories],
        **keypoint_metadata(categories),
    )
    logger.info(f"Registered dataset {name!r}: {len(coco['images'])} images, "
                f"{len(categories)} categories, from {json_file}")
