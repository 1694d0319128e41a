"""Any COCO-format dataset (boxes, masks, keypoints) registered by name, from the command line."""

import json
import logging
import math
import os
from numbers import Real

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
    if not isinstance(coco, dict):
        raise DatasetError(
            f"{json_file}: not a COCO dataset: its top level is a JSON {_json_type(coco)}, not an "
            "object with 'images', 'annotations' and 'categories'"
        )
    missing = [k for k in ("images", "annotations", "categories") if k not in coco]
    if missing:
        raise DatasetError(f"{json_file}: not a COCO dataset, missing keys {missing}")
    return coco


def _json_type(value):
    """The JSON name of a parsed value's type."""
    if value is None:
        return "null"
    for kind, name in ((bool, "boolean"), (str, "string"), (list, "array"), (Real, "number")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _polygon_problem(polygon):
    """What is wrong with one polygon of a segmentation: "fatal: ...", "harmless: ..." or None."""
    if not isinstance(polygon, list) or not all(_is_number(v) for v in polygon):
        return f"fatal: a polygon must be a list of finite numbers, got {polygon!r:.80}"
    if len(polygon) % 2:
        return f"fatal: a polygon needs x, y pairs, got {len(polygon)} numbers"
    if len(polygon) < 6:
        return f"harmless: a polygon of {len(polygon) // 2} points"
    return None


def _segmentation_problem(segmentation):
    if isinstance(segmentation, dict):  # RLE
        size, counts = segmentation.get("size"), segmentation.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)):
            return f"fatal: RLE 'size' must be [height, width], got {size!r}"
        if not (
            isinstance(counts, str)
            or isinstance(counts, list)
            and all(_is_int(v) and v >= 0 for v in counts)
        ):
            return "fatal: RLE 'counts' must be a string or a list of non-negative ints"
        return None
    if not isinstance(segmentation, list):
        return f"fatal: 'segmentation' must be polygons or an RLE dict, got {segmentation!r:.80}"
    problems = [_polygon_problem(p) for p in segmentation]
    fatal = [p for p in problems if p and p.startswith("fatal")]
    if fatal:
        return fatal[0]
    if all(problems):
        return problems[0] if problems else "harmless: no polygon"
    return None


def _annotation_problem(ann, images, categories):
    """What is wrong with one annotation: "fatal: ...", "harmless: ..." or None."""
    if not isinstance(ann, dict):
        return f"fatal: an annotation must be a JSON object, got {ann!r:.80}"
    # Every field COCO requires of an annotation but "segmentation" (box-only datasets leave it
    # out, and detectron2 trains boxes without it); pycocotools' evaluation reads "area" and
    # "iscrowd" of every annotation, so a file without them would fail after training.
    for key in ("id", "image_id", "category_id", "bbox", "area", "iscrowd"):
        if key not in ann:
            return f"fatal: missing key {key!r} (COCO requires it of every annotation)"
    for key in ("image_id", "category_id"):
        if not _is_int(ann[key]):
            return f"fatal: {key!r} must be an int, got {ann[key]!r:.80}"
    if not _is_number(ann["area"]) or ann["area"] < 0:
        return f"fatal: 'area' must be a finite number >= 0, got {ann['area']!r:.80}"
    if ann["image_id"] not in images:
        return f"fatal: image_id {ann['image_id']!r} is not among the images"
    if ann["category_id"] not in categories:
        return (
            f"fatal: category_id {ann['category_id']!r} is not among the categories "
            f"{sorted(categories)}"
        )
    bbox = ann["bbox"]
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        return f"fatal: 'bbox' must be 4 finite numbers [x, y, w, h], got {bbox!r:.80}"
    if ann["iscrowd"] not in (0, 1) or isinstance(ann["iscrowd"], float):
        return f"fatal: 'iscrowd' must be 0 or 1, got {ann['iscrowd']!r}"
    if "keypoints" in ann:
        num_keypoints = categories[ann["category_id"]]
        keypoints = ann["keypoints"]
        if not (
            isinstance(keypoints, list)
            and all(_is_number(v) for v in keypoints)
            and len(keypoints) == 3 * num_keypoints
        ):
            return (
                f"fatal: 'keypoints' must be {3 * num_keypoints} finite numbers (x, y, v for "
                f"each of the category's {num_keypoints} keypoints), got {keypoints!r:.80}"
            )
    if "segmentation" in ann:
        problem = _segmentation_problem(ann["segmentation"])
        if problem:
            return problem
    if bbox[2] <= 0 or bbox[3] <= 0:
        return f"harmless: degenerate bbox {bbox}"
    return None


SINGULAR = {"images": "image", "annotations": "annotation", "categories": "category"}


def _check_entries(entries, key, json_file, check):
    """
    Check each entry of ``coco[key]`` with ``check(entry) -> problem``, and for duplicate ids.
    Returns the ids of harmless-but-wrong entries; raises on a fatal one.
    """
    if not isinstance(entries, list):
        raise DatasetError(f"{json_file}: {key!r} must be a list, got {type(entries).__name__}")
    seen, dropped = set(), []
    for position, entry in enumerate(entries):
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        kind = SINGULAR[key]
        name = f"{kind} id {entry_id!r}" if entry_id is not None else f"{kind} #{position}"
        if isinstance(entry, dict) and "id" in entry:
            if not _is_int(entry_id):
                raise DatasetError(f"{json_file}: {name}: 'id' must be an int")
            if entry_id in seen:
                raise DatasetError(f"{json_file}: {name}: duplicate id")
            seen.add(entry_id)
        problem = check(entry)
        if problem and problem.startswith("fatal: "):
            raise DatasetError(f"{json_file}: {name}: {problem[len('fatal: ') :]}")
        if problem:
            dropped.append((entry_id, f"{name}: {problem[len('harmless: ') :]}"))
    return dropped


def _image_problem(image):
    if not isinstance(image, dict):
        return f"fatal: an image must be a JSON object, got {image!r:.80}"
    for key in ("id", "file_name", "height", "width"):
        if key not in image:
            return f"fatal: missing key {key!r} (COCO requires it of every image)"
    if not isinstance(image["file_name"], str):
        return f"fatal: 'file_name' must be a string, got {image['file_name']!r}"
    for key in ("height", "width"):
        if not _is_int(image[key]) or image[key] <= 0:
            return f"fatal: {key!r} must be a positive int, got {image[key]!r}"
    return None


def _category_problem(category):
    if not isinstance(category, dict):
        return f"fatal: a category must be a JSON object, got {category!r:.80}"
    for key in ("id", "name"):
        if key not in category:
            return f"fatal: missing key {key!r} (COCO requires it of every category)"
    if not isinstance(category["name"], str):
        return f"fatal: 'name' must be a string, got {category['name']!r:.80}"
    keypoints = category.get("keypoints", [])
    if not isinstance(keypoints, list) or not all(isinstance(k, str) for k in keypoints):
        return f"fatal: 'keypoints' must be a list of names, got {keypoints!r:.80}"
    return None


def check_coco(coco, json_file):
    """
    Check every image, category and annotation of a parsed COCO dict, in one pass.

    Raises:
        DatasetError: naming the file, the entry (its id), the field and what is wrong, for an
            entry that would break loading or training: wrong types, missing keys, boxes that are
            not 4 finite numbers, unknown category or image ids, duplicate ids, malformed
            polygons, RLE or keypoints.
    Returns:
        set: ids of annotations that are wrong but harmless (a degenerate box, a polygon of fewer
        than 3 points), to be dropped; one warning counts them and names the first few.
    """
    _check_entries(coco["images"], "images", json_file, _image_problem)
    _check_entries(coco["categories"], "categories", json_file, _category_problem)
    if not coco["categories"]:
        raise DatasetError(f"{json_file}: 'categories' is empty: a dataset needs at least one")
    images = {image["id"] for image in coco["images"]}
    categories = {c["id"]: len(c.get("keypoints", [])) for c in coco["categories"]}
    dropped = _check_entries(
        coco["annotations"],
        "annotations",
        json_file,
        lambda ann: _annotation_problem(ann, images, categories),
    )
    if dropped:
        logger.warning(
            f"{json_file}: dropped {len(dropped)} annotations that are wrong but harmless, "
            f"first: {'; '.join(why for _, why in dropped[:3])}"
        )
    return {ann_id for ann_id, _ in dropped}


def keypoint_metadata(categories):
    """
    Keypoint names (from the first category that lists them) and the flip map of the names that
    differ only by "left"/"right", as detectron2's metadata wants them; {} without keypoints.
    """
    names = next((c["keypoints"] for c in categories if c.get("keypoints")), None)
    if not names:
        return {}
    flip_map = [
        (n, n.replace("left", "right"))
        for n in names
        if "left" in n and n.replace("left", "right") in names
    ]
    return {"keypoint_names": list(names), "keypoint_flip_map": flip_map}


def register_coco_json(name, json_file, image_root):
    """
    Register ``name`` for a COCO-format ``json_file`` with images under ``image_root``. The JSON
    is checked now (``check_coco``), so a bad file fails before training starts; class names,
    keypoint names and the keypoint flip map come from its categories.
    """
    if not os.path.isdir(image_root):
        raise DatasetError(f"{image_root}: image folder of dataset {name!r} not found")
    coco = read_coco_json(json_file)
    dropped = check_coco(coco, json_file)
    categories = sorted(coco["categories"], key=lambda c: c["id"])
    DatasetCatalog.register(name, lambda: _load(json_file, image_root, name, dropped))
    MetadataCatalog.get(name).set(
        json_file=json_file,
        image_root=image_root,
        evaluator_type="coco",
        thing_classes=[c["name"] for c in categories],
        **keypoint_metadata(categories),
    )
    logger.info(
        f"Registered dataset {name!r}: {len(coco['images'])} images, "
        f"{len(categories)} categories, from {json_file}"
    )


def _load(json_file, image_root, name, dropped):
    """detectron2's ``load_coco_json``, without the annotations ``check_coco`` dropped."""
    records = load_coco_json(
        json_file, image_root, name, extra_annotation_keys=["id"] if dropped else None
    )
    if dropped:
        for record in records:
            record["annotations"] = [a for a in record["annotations"] if a["id"] not in dropped]
    return records
