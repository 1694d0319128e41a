import json

import cv2
import numpy as np
import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog

from nl_detectron.data.relation_shapes import (
    CLASSES,
    CUE_COLORS,
    CUE_WIDTH,
    FAR,
    IMAGE_HEIGHT,
    NEAR,
    RELATION_DATASETS,
    SPLITS,
    generate_relation_split,
)
from tests.helpers import check_split_deterministic_and_cached, cue_side


def test_generation_is_deterministic_and_cached(tmp_path):
    check_split_deterministic_and_cached(generate_relation_split, tmp_path, "val", SPLITS["val"][0])


@pytest.mark.parametrize("layout", [NEAR, FAR], ids=["near", "far"])
def test_every_label_is_the_colour_of_a_cue_far_from_the_object(tmp_path, layout):
    with open(generate_relation_split(str(tmp_path), "val", layout=layout)) as f:
        coco = json.load(f)
    assert [c["name"] for c in coco["categories"]] == list(CLASSES)
    by_image = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    assert len(by_image) == len(coco["images"]) == SPLITS["val"][0]
    labels = []
    for image_id, annotations in by_image.items():
        image = cv2.imread(str(tmp_path / "val" / f"{image_id:04d}.png"))
        assert image.shape == (IMAGE_HEIGHT, layout.width, 3)
        side, cue_class = cue_side(image)
        cue_column = CUE_WIDTH - 1 if side == "left" else layout.width - CUE_WIDTH
        for ann in annotations:
            x, y, w, h = ann["bbox"]
            assert ann["category_id"] == cue_class + 1
            # drawn around a centre min_distance or more from the cue; a rotated triangle's box
            # centre lies up to about a seventh of its size off that centre
            assert abs(x + w / 2 - cue_column) >= layout.min_distance - 0.3 * w
            # the object is grey: its look does not tell its label
            centre = image[int(y + h / 2), int(x + w / 2)].astype(int)
            assert centre.max() - centre.min() <= 2
            labels.append(ann["category_id"])
    # both labels, about as often: chance is a half
    assert 0.4 < np.mean(np.array(labels) == 1) < 0.6


def test_the_local_control_draws_the_same_scenes_with_the_label_on_the_object(tmp_path):
    with open(generate_relation_split(str(tmp_path / "far"), "val")) as f:
        far = json.load(f)
    with open(generate_relation_split(str(tmp_path / "near"), "val", local=True)) as f:
        near = json.load(f)
    assert far["annotations"] == near["annotations"]
    for ann in near["annotations"][:20]:
        image = cv2.imread(str(tmp_path / "near" / "val" / f"{ann['image_id']:04d}.png"))
        x, y, w, h = ann["bbox"]
        centre = image[int(y + h / 2), int(x + w / 2)].astype(int)
        cue = np.array(CUE_COLORS[ann["category_id"] - 1])
        assert np.abs(centre - cue).max() <= 25  # the cue's colour, jittered by up to 20


def test_registered_splits_are_evaluated_for_the_relation():
    for name in RELATION_DATASETS:
        meta = MetadataCatalog.get(name)
        assert meta.thing_classes == list(CLASSES) and meta.evaluate_relation
    assert len(DatasetCatalog.get("nl_relation_shapes_val")) == SPLITS["val"][0]
    assert len(RELATION_DATASETS) == 8
