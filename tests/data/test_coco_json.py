import json

import cv2
import numpy as np
import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog

from nl_detectron.data import CheckedDatasetMapper, DatasetError, register_coco_json
from nl_detectron.data.coco_json import keypoint_metadata
from tests.helpers import small_cfg


def test_keypoint_names_and_flip_map_come_from_the_categories():
    categories = [{"id": 1, "name": "person",
                   "keypoints": ["nose", "left_eye", "right_eye", "left_knee", "right_knee"]}]
    assert keypoint_metadata(categories) == {
        "keypoint_names": ["nose", "left_eye", "right_eye", "left_knee", "right_knee"],
        "keypoint_flip_map": [("left_eye", "right_eye"), ("left_knee", "right_knee")],
    }
    assert keypoint_metadata([{"id": 1, "name": "cat"}]) == {}


@pytest.mark.parametrize(
    "content, match",
    [
        (None, "dataset JSON file not found"),
        ("{not json", "not a valid JSON file"),
        ('{"images": []}', r"not a COCO dataset, missing keys \['annotations', 'categories'\]"),
    ],
)
def test_bad_dataset_json_is_named(tmp_path, content, match):
    json_file = tmp_path / "train.json"
    if content is not None:
        json_file.write_text(content)
    with pytest.raises(DatasetError, match=f"{json_file}: {match}"):
        register_coco_json(f"bad_{len(match)}", str(json_file), str(tmp_path))


def test_missing_image_folder_is_named(tmp_path):
    with pytest.raises(DatasetError, match=f"{tmp_path}/nowhere: image folder"):
        register_coco_json("bad_folder", str(tmp_path / "x.json"), str(tmp_path / "nowhere"))


def _record(path, annotations=True):
    anns = [{"bbox": [4.0, 4.0, 20.0, 20.0], "bbox_mode": 1, "category_id": 0,
             "segmentation": [[4, 4, 24, 4, 24, 24, 4, 24]], "iscrowd": 0}] if annotations else []
    return {"file_name": str(path), "height": 32, "width": 32, "image_id": 1, "annotations": anns}


@pytest.mark.parametrize("channels", [1, 4])
def test_grayscale_and_4_channel_images_become_3_channels(tmp_path, channels):
    path = tmp_path / "image.png"
    cv2.imwrite(str(path), np.full((32, 32, channels) if channels > 1 else (32, 32), 128, np.uint8))
    out = CheckedDatasetMapper(small_cfg(), is_train=True)(_record(path))
    assert out["image"].shape[0] == 3


def test_unreadable_image_is_skipped_in_training_and_named_at_test_time(tmp_path, caplog):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    missing = tmp_path / "missing.png"
    train_mapper = CheckedDatasetMapper(small_cfg(), is_train=True)
    for path in (corrupt, missing):
        assert train_mapper(_record(path)) is None  # detectron2 then takes another image
        assert f"Skipped {path}" in caplog.text
    with pytest.raises(OSError, match=f"{corrupt}: cannot read this image"):
        CheckedDatasetMapper(small_cfg(), is_train=False)(_record(corrupt))


def test_registered_dataset_metadata(tmp_path):
    DatasetCatalog.get("nl_demo_shapes_val")  # generated on first use
    meta = MetadataCatalog.get("nl_demo_shapes_val")
    register_coco_json("shapes_again", meta.json_file, meta.image_root)
    again = MetadataCatalog.get("shapes_again")
    assert again.thing_classes == ["circle", "square", "triangle"]
    assert again.keypoint_names == ["top", "right", "bottom", "left"]
    assert again.keypoint_flip_map == [("left", "right")] and again.evaluator_type == "coco"
    with open(meta.json_file) as f:
        assert len(json.load(f)["images"]) == 60


def test_images_without_annotations_are_dropped_from_training_with_a_log(tmp_path, caplog):
    from detectron2.data import get_detection_dataset_dicts

    records = [_record(tmp_path / "a.png"), dict(_record(tmp_path / "b.png", annotations=False),
                                                 image_id=2)]
    DatasetCatalog.register("with_empty_image", lambda: records)
    MetadataCatalog.get("with_empty_image").thing_classes = ["thing"]
    with caplog.at_level("INFO"):
        kept = get_detection_dataset_dicts(["with_empty_image"], filter_empty=True)
    assert [d["image_id"] for d in kept] == [1]
    assert "Removed 1 images with no usable annotations" in caplog.text
