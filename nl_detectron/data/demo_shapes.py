"""
A built-in synthetic dataset, so that training, evaluation and the tools run anywhere with no
download: coloured circles, squares and triangles on noisy backgrounds, with boxes, polygon masks
and four keypoints per object (its top-, right-, bottom- and left-most points), in COCO format.

Generated deterministically from a seed into ``$DETECTRON2_DATASETS/nl_demo_shapes`` (default
``./datasets``) the first time it is used, then read from there.
"""

import os

import numpy as np

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json

from .synthetic import (
    SHAPES,
    disjoint,
    fill_polygon,
    noisy_background,
    polygon_annotation,
    shape_polygon,
    write_split,
)

CLASSES = SHAPES
KEYPOINT_NAMES = ("top", "right", "bottom", "left")
KEYPOINT_FLIP_MAP = (("left", "right"),)
KEYPOINT_CONNECTION_RULES = [
    ("top", "right", (255, 0, 0)),
    ("right", "bottom", (0, 255, 0)),
    ("bottom", "left", (0, 0, 255)),
    ("left", "top", (255, 255, 0)),
]
# Bump when the drawing below changes, so that cached copies are regenerated.
GENERATOR_VERSION = 1
# split name: (number of images, seed). val_large: the fast demo's, for a smaller seed spread.
SPLITS = {"train": (400, 0), "val": (60, 1), "val_large": (400, 2)}
# The registered names, generated on first use.
DEMO_DATASETS = tuple(f"nl_demo_shapes_{split}" for split in SPLITS)
IMAGE_SIZE = 192


def demo_root():
    return os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), "nl_demo_shapes")


def _keypoints(polygon):
    """COCO keypoints [x, y, v] * 4: the polygon's top, right, bottom and left extreme points."""
    picks = [
        polygon[:, 1].argmin(),
        polygon[:, 0].argmax(),
        polygon[:, 1].argmax(),
        polygon[:, 0].argmin(),
    ]
    return [float(v) for i in picks for v in (*polygon[i], 2)]


def _random_image(rng, image_id):
    """Draw one image; return (BGR uint8 image, list of COCO annotations without ids)."""
    size = IMAGE_SIZE
    image = noisy_background(rng, size, size)
    annotations, boxes = [], []
    for _ in range(rng.integers(1, 5)):
        for _attempt in range(20):
            extent = rng.uniform(28, 80)
            center = rng.uniform(extent / 2 + 2, size - extent / 2 - 2, size=2)
            box = np.concatenate([center - extent / 2, center + extent / 2])
            if all(disjoint(box, other) for other in boxes):
                break
        else:
            continue
        boxes.append(box)
        category = int(rng.integers(len(CLASSES)))
        polygon = shape_polygon(CLASSES[category], center, extent, rng.uniform(0, 2 * np.pi))
        fill_polygon(image, polygon, [int(c) for c in rng.integers(120, 256, size=3)])
        annotation = polygon_annotation(polygon, category + 1, image_id, size, size)
        annotation["keypoints"] = _keypoints(polygon)
        annotation["num_keypoints"] = len(KEYPOINT_NAMES)
        annotations.append(annotation)
    return image, annotations


def generate_demo_split(root, split):
    """
    Write ``root/<split>/*.png`` and ``root/annotations/<split>.json`` unless an up-to-date copy
    is there (``synthetic.write_split``).

    Returns:
        str: path of the COCO JSON file.
    """
    num_images, seed = SPLITS[split]
    names = {name: i for i, name in enumerate(KEYPOINT_NAMES, start=1)}
    skeleton = [[names[a], names[b]] for a, b, _ in KEYPOINT_CONNECTION_RULES]
    categories = [
        {
            "id": i,
            "name": name,
            "supercategory": "shape",
            "keypoints": list(KEYPOINT_NAMES),
            "skeleton": skeleton,
        }
        for i, name in enumerate(CLASSES, start=1)
    ]
    return write_split(
        root,
        split,
        info={"generator_version": GENERATOR_VERSION, "num_images": num_images, "seed": seed},
        draw=_random_image,
        categories=categories,
        image_size=(IMAGE_SIZE, IMAGE_SIZE),
    )


def register_demo_shapes(root=None):
    """Register ``nl_demo_shapes_train`` and ``nl_demo_shapes_val`` (generated on first use)."""
    root = root or demo_root()
    for split in SPLITS:
        name = f"nl_demo_shapes_{split}"
        image_root = os.path.join(root, split)
        json_file = os.path.join(root, "annotations", f"{split}.json")

        def load(split=split, image_root=image_root, name=name):
            return load_coco_json(generate_demo_split(root, split), image_root, name)

        DatasetCatalog.register(name, load)
        MetadataCatalog.get(name).set(
            json_file=json_file,
            image_root=image_root,
            evaluator_type="coco",
            thing_classes=list(CLASSES),
            keypoint_names=list(KEYPOINT_NAMES),
            keypoint_flip_map=list(KEYPOINT_FLIP_MAP),
            keypoint_connection_rules=KEYPOINT_CONNECTION_RULES,
        )
