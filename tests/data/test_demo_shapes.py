import json

import numpy as np
import pycocotools.mask as mask_util

from detectron2.data import DatasetCatalog, MetadataCatalog

from nl_detectron.data.demo_shapes import CLASSES, KEYPOINT_NAMES, SPLITS, generate_demo_split
from tests.helpers import check_split_deterministic_and_cached


def test_generation_is_deterministic_and_cached(tmp_path):
    check_split_deterministic_and_cached(generate_demo_split, tmp_path, "val", SPLITS["val"][0])


def test_annotations_are_consistent(tmp_path):
    with open(generate_demo_split(str(tmp_path), "val")) as f:
        coco = json.load(f)
    assert len(coco["images"]) == SPLITS["val"][0]
    assert [c["name"] for c in coco["categories"]] == list(CLASSES)
    assert all(c["keypoints"] == list(KEYPOINT_NAMES) for c in coco["categories"])
    per_image = {}
    for ann in coco["annotations"]:
        per_image.setdefault(ann["image_id"], []).append(ann)
        x, y, w, h = ann["bbox"]
        mask = mask_util.decode(mask_util.frPyObjects(ann["segmentation"], 192, 192))[..., 0]
        ys, xs = np.nonzero(mask)
        assert xs.min() >= np.floor(x) and xs.max() <= np.ceil(x + w)
        assert ys.min() >= np.floor(y) and ys.max() <= np.ceil(y + h)
        assert abs(mask.sum() - ann["area"]) <= 1
        kx, ky = np.array(ann["keypoints"][0::3]), np.array(ann["keypoints"][1::3])
        # top, right, bottom, left: on the box's edges
        np.testing.assert_allclose([ky[0], kx[1], ky[2], kx[3]], [y, x + w, y + h, x], atol=1e-3)
    assert len(per_image) == len(coco["images"])  # every image has objects


def test_registered_splits():
    for split in SPLITS:
        name = f"nl_demo_shapes_{split}"
        assert MetadataCatalog.get(name).thing_classes == list(CLASSES)
    dicts = DatasetCatalog.get("nl_demo_shapes_val")
    assert len(dicts) == SPLITS["val"][0]
    assert {"file_name", "height", "width", "annotations"} <= set(dicts[0])
