"""
A built-in synthetic dataset, so that training, evaluation and the tools run anywhere with no
download: coloured circles, squares and triangles on noisy backgrounds, with boxes, polygon masks
and four keypoints per object (its top-, right-, bottom- and left-most points), in COCO format.

Generated deterministically from a seed into ``$DETECTRON2_DATASETS/nl_demo_shapes`` (default
``./datasets``) the first time it is used, then read from there.
"""

import json
import logging
import os

import cv2
import numpy as np
import pycocotools.mask as mask_util

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json

logger = logging.getLogger(__name__)

CLASSES = ("circle", "square", "triangle")
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
# split name: (number of images, seed)
SPLITS = {"train": (400, 0), "val": (60, 1)}
# The registered names, generated on first use.
DEMO_DATASETS = tuple(f"nl_demo_shapes_{split}" for split in SPLITS)
IMAGE_SIZE = 192


def demo_root():
    return os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), "nl_demo_shapes")


def _shape_polygon(category, center, size, angle):
    """(P, 2) float polygon, in (x, y) pixel coordinates."""
    if category == "circle":
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        unit = np.stack([np.cos(t), np.sin(t)], axis=1) * 0.5
    elif category == "square":
        unit = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * 0.8
    else:
        t = np.array([-np.pi / 2, np.pi / 6, 5 * np.pi / 6])
        unit = np.stack([np.cos(t), np.sin(t)], axis=1) * 0.55
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return unit @ rotation.T * size + np.asarray(center)


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
    base = rng.integers(0, 90, size=3)
    gradient = np.linspace(0, rng.integers(0, 60), size)[None, :, None]
    image = base + gradient + rng.normal(0, 12, size=(size, size, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    annotations, boxes = [], []
    for _ in range(rng.integers(1, 5)):
        for _attempt in range(20):
            extent = rng.uniform(28, 80)
            center = rng.uniform(extent / 2 + 2, size - extent / 2 - 2, size=2)
            box = np.concatenate([center - extent / 2, center + extent / 2])
            if all(_disjoint(box, other) for other in boxes):
                break
        else:
            continue
        boxes.append(box)
        category = int(rng.integers(len(CLASSES)))
        polygon = _shape_polygon(CLASSES[category], center, extent, rng.uniform(0, 2 * np.pi))
        color = [int(c) for c in rng.integers(120, 256, size=3)]
        cv2.fillPoly(image, [np.round(polygon * 16).astype(np.int32)], color, cv2.LINE_8, 4)
        flat = [float(v) for v in polygon.reshape(-1)]
        rle = mask_util.frPyObjects([flat], size, size)
        x0, y0 = polygon.min(axis=0)
        x1, y1 = polygon.max(axis=0)
        annotations.append(
            {
                "image_id": image_id,
                "category_id": category + 1,
                "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                "area": float(mask_util.area(mask_util.merge(rle))),
                "segmentation": [flat],
                "keypoints": _keypoints(polygon),
                "num_keypoints": len(KEYPOINT_NAMES),
                "iscrowd": 0,
            }
        )
    return image, annotations


def _disjoint(a, b, margin=4):
    return (
        a[2] + margin < b[0] or b[2] + margin < a[0] or a[3] + margin < b[1] or b[3] + margin < a[1]
    )


def generate_demo_split(root, split):
    """
    Write ``root/<split>/*.png`` and ``root/annotations/<split>.json`` unless an up-to-date copy
    is there. The JSON is written last, atomically, so its presence means the split is complete.

    Returns:
        str: path of the COCO JSON file.
    """
    num_images, seed = SPLITS[split]
    json_file = os.path.join(root, "annotations", f"{split}.json")
    info = {"generator_version": GENERATOR_VERSION, "num_images": num_images, "seed": seed}
    if os.path.exists(json_file):
        with open(json_file) as f:
            if json.load(f).get("info") == info:
                return json_file
    logger.info(f"Generating {num_images} images of the demo dataset into {root}/{split} ...")
    rng = np.random.default_rng(seed)
    image_dir = os.path.join(root, split)
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(os.path.dirname(json_file), exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        file_name = f"{image_id:04d}.png"
        image, anns = _random_image(rng, image_id)
        cv2.imwrite(os.path.join(image_dir, file_name), image)
        images.append(
            {"id": image_id, "file_name": file_name, "height": IMAGE_SIZE, "width": IMAGE_SIZE}
        )
        annotations.extend(anns)
    for ann_id, ann in enumerate(annotations, start=1):
        ann["id"] = ann_id
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
    coco = {"info": info, "images": images, "annotations": annotations, "categories": categories}
    tmp_file = json_file + ".tmp"
    with open(tmp_file, "w") as f:
        json.dump(coco, f)
    os.replace(tmp_file, json_file)
    return json_file


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
