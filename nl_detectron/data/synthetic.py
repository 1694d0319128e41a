"""
What the built-in synthetic datasets share: shapes drawn as polygons on noisy backgrounds, their
COCO annotations, and a split written deterministically from a seed, once.
"""

import json
import logging
import os
import tempfile
from functools import partial

import cv2
import numpy as np
import pycocotools.mask as mask_util

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json

logger = logging.getLogger(__name__)

SHAPES = ("circle", "square", "triangle")


def shape_polygon(shape, center, size, angle):
    """(P, 2) float polygon of one of ``SHAPES``, in (x, y) pixel coordinates."""
    if shape == "circle":
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        unit = np.stack([np.cos(t), np.sin(t)], axis=1) * 0.5
    elif shape == "square":
        unit = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * 0.8
    else:
        t = np.array([-np.pi / 2, np.pi / 6, 5 * np.pi / 6])
        unit = np.stack([np.cos(t), np.sin(t)], axis=1) * 0.55
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return unit @ rotation.T * size + np.asarray(center)


def noisy_background(rng, height, width):
    """(H, W, 3) uint8: a dark colour, a horizontal gradient and Gaussian noise."""
    base = rng.integers(0, 90, size=3)
    gradient = np.linspace(0, rng.integers(0, 60), width)[None, :, None]
    image = base + gradient + rng.normal(0, 12, size=(height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def fill_polygon(image, polygon, color):
    """Draw ``polygon`` ((P, 2), pixels) filled with ``color`` (BGR) into ``image``, in place."""
    cv2.fillPoly(image, [np.round(polygon * 16).astype(np.int32)], color, cv2.LINE_8, 4)


def polygon_annotation(polygon, category_id, image_id, height, width):
    """The COCO annotation (no id) of one object drawn as ``polygon``: box, area, polygon mask."""
    flat = [float(v) for v in polygon.reshape(-1)]
    rle = mask_util.frPyObjects([flat], height, width)
    x0, y0 = polygon.min(axis=0)
    x1, y1 = polygon.max(axis=0)
    return {
        "image_id": image_id,
        "category_id": category_id,
        "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
        "area": float(mask_util.area(mask_util.merge(rle))),
        "segmentation": [flat],
        "iscrowd": 0,
    }


def disjoint(a, b, margin=4):
    """Whether boxes ``a`` and ``b`` (x0, y0, x1, y1) are more than ``margin`` pixels apart."""
    return (
        a[2] + margin < b[0] or b[2] + margin < a[0] or a[3] + margin < b[1] or b[3] + margin < a[1]
    )


def write_split(root, split, *, info, draw, categories, image_size):
    """
    Write ``root/<split>/*.png`` and ``root/annotations/<split>.json`` unless an up-to-date copy
    is there (one whose ``info`` equals ``info``). The JSON is written last, so its presence
    means the split is complete. Every file is written to a temporary name of its own, then
    renamed: two trainings started at once that both generate the split never see a partial
    file of the other's.

    Args:
        info (dict): the generator's version, ``num_images`` and ``seed``; stored in the JSON.
        draw (callable): (numpy Generator, image id) -> (BGR uint8 image, COCO annotations
            without ids[, dict of more fields of the image's entry]), called for image ids
            1..num_images with one generator seeded by ``info["seed"]``.
        categories (list[dict]): the COCO categories.
        image_size (tuple): (height, width) of every image.

    Returns:
        str: path of the COCO JSON file.
    """
    json_file = os.path.join(root, "annotations", f"{split}.json")
    if os.path.exists(json_file):
        with open(json_file) as f:
            if json.load(f).get("info") == info:
                return json_file
    num_images = info["num_images"]
    logger.info(f"Generating {num_images} images into {root}/{split} ...")
    rng = np.random.default_rng(info["seed"])
    image_dir = os.path.join(root, split)
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(os.path.dirname(json_file), exist_ok=True)
    height, width = image_size
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        file_name = f"{image_id:04d}.png"
        image, anns, *fields = draw(rng, image_id)
        _write_atomically(os.path.join(image_dir, file_name), partial(cv2.imwrite, img=image))
        entry = {"id": image_id, "file_name": file_name, "height": height, "width": width}
        images.append({**entry, **(fields[0] if fields else {})})
        annotations.extend(anns)
    for ann_id, ann in enumerate(annotations, start=1):
        ann["id"] = ann_id
    coco = {"info": info, "images": images, "annotations": annotations, "categories": categories}
    _write_atomically(json_file, lambda p: _dump_json(coco, p))
    return json_file


def _write_atomically(path, write):
    """``write(tmp)`` to a new temporary file beside ``path`` (same extension), then rename it
    to ``path``."""
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=os.path.splitext(name)[1])
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _dump_json(data, path):
    with open(path, "w") as f:
        json.dump(data, f)


def write_relation_split(root, split, *, splits, version, draw, classes, image_size, local=False):
    """
    ``write_split`` for a relational dataset: the split's size and seed from ``splits``, the
    categories ``classes`` (ids from 1), ``draw(rng, image_id, local=local)``.
    Returns: str, the COCO JSON file.
    """
    num_images, seed = splits[split]
    info = {"generator_version": version, "num_images": num_images, "seed": seed, "local": local}
    return write_split(
        root,
        split,
        info=info,
        draw=lambda rng, image_id: draw(rng, image_id, local=local),
        categories=[
            {"id": i, "name": name, "supercategory": "relation"}
            for i, name in enumerate(classes, start=1)
        ],
        image_size=image_size,
    )


def register_relation_variants(variants, splits, generate, *, root, default_root, classes):
    """
    Register ``{variant}_{split}`` for every variant (name -> local) and split of a generated
    relational dataset, with the metadata of a relation: COCO evaluation plus the relation's
    accuracy (``evaluation.RelationEvaluator``).

    Args:
        generate (callable): (variant root, split, local) -> COCO JSON file, generated on use.
        root (str or None): the folder holding one folder per variant; None for
            ``default_root(variant)``.
    """
    for variant, local in variants.items():
        variant_root = os.path.join(root, variant) if root else default_root(variant)
        for split in splits:
            name = f"{variant}_{split}"
            image_root = os.path.join(variant_root, split)

            def load(split=split, image_root=image_root, name=name, r=variant_root, lc=local):
                return load_coco_json(generate(r, split, local=lc), image_root, name)

            DatasetCatalog.register(name, load)
            MetadataCatalog.get(name).set(
                json_file=os.path.join(variant_root, "annotations", f"{split}.json"),
                image_root=image_root,
                evaluator_type="coco",
                thing_classes=list(classes),
                # evaluation adds the relation's accuracy (evaluation.RelationEvaluator)
                evaluate_relation=True,
            )
