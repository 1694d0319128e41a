import json

import cv2
import numpy as np
import pycocotools.mask as mask_util

from detectron2.data import DatasetCatalog, MetadataCatalog

from nl_detectron.data.partner_shapes import (
    CLASSES,
    COLORS,
    IMAGE_HEIGHT,
    IMAGE_WIDTH,
    PARTNER_DATASETS,
    SPLITS,
    generate_partner_split,
)
from tests.helpers import check_split_deterministic_and_cached


def _objects(coco, root, split="val"):
    """Per image: [(category, colour class of the drawn object, the shape's number of vertices
    (circle 32, square 4, triangle 3), box centre x)]."""
    by_image = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    result = {}
    for image_id, annotations in by_image.items():
        image = cv2.imread(str(root / split / f"{image_id:04d}.png")).astype(int)
        assert image.shape == (IMAGE_HEIGHT, IMAGE_WIDTH, 3)
        objects = []
        for ann in annotations:
            rle = mask_util.frPyObjects(ann["segmentation"], IMAGE_HEIGHT, IMAGE_WIDTH)
            mask = mask_util.decode(mask_util.merge(rle)).astype(bool)
            colour = image[mask].mean(0)
            drawn = int(np.argmin([np.abs(colour - c).sum() for c in COLORS]))
            x, y, w, h = ann["bbox"]
            vertices = len(ann["segmentation"][0]) // 2
            objects.append((ann["category_id"] - 1, drawn, vertices, x + w / 2))
        result[image_id] = objects
    return result


def test_generation_is_deterministic_and_cached(tmp_path):
    check_split_deterministic_and_cached(generate_partner_split, tmp_path, "val", SPLITS["val"][0])


def test_every_label_is_the_colour_of_the_partner_at_the_other_end(tmp_path):
    with open(generate_partner_split(str(tmp_path), "val")) as f:
        coco = json.load(f)
    assert [c["name"] for c in coco["categories"]] == list(CLASSES)
    own_is_label, labels = [], []
    for objects in _objects(coco, tmp_path).values():
        # annotations come partner by partner: (0, 1) and (2, 3)
        assert len(objects) == 4
        for a, b in zip(objects[::2], objects[1::2]):
            assert a[0] == b[1] and b[0] == a[1]  # each one's label is the other's colour
            assert abs(a[3] - b[3]) >= 88 - 5  # box centres; a triangle's lies off its centre
            assert a[2] == b[2]  # the same shape
        assert objects[0][2] != objects[2][2]  # the pairs' shapes differ
        own_is_label += [o[0] == o[1] for o in objects]
        labels += [o[0] for o in objects]
    # both labels about as often, and the object's own colour tells nothing of its label
    assert 0.4 < np.mean(labels) < 0.6
    assert 0.4 < np.mean(own_is_label) < 0.6
    assert sum(len(o) == 4 for o in _objects(coco, tmp_path).values()) > SPLITS["val"][0] / 2


def test_the_local_control_draws_the_same_scenes_with_the_label_on_the_object(tmp_path):
    with open(generate_partner_split(str(tmp_path / "far"), "val")) as f:
        far = json.load(f)
    with open(generate_partner_split(str(tmp_path / "near"), "val", local=True)) as f:
        near = json.load(f)
    assert far["annotations"] == near["annotations"]
    for objects in _objects(near, tmp_path / "near").values():
        assert all(label == drawn for label, drawn, _, _ in objects)


def test_registered_splits_are_evaluated_for_the_relation():
    for name in PARTNER_DATASETS:
        meta = MetadataCatalog.get(name)
        assert meta.thing_classes == list(CLASSES) and meta.evaluate_relation
    assert len(DatasetCatalog.get("nl_partner_shapes_val")) == SPLITS["val"][0]
