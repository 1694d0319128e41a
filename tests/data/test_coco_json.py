import json

import cv2
import numpy as np
import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog

from nl_detectron.data import CheckedDatasetMapper, DatasetError, register_coco_json
from nl_detectron.data.coco_json import keypoint_metadata
from tests.helpers import small_cfg


def test_keypoint_names_and_flip_map_come_from_the_categories():
    categories = [
        {
            "id": 1,
            "name": "person",
            "keypoints": ["nose", "left_eye", "right_eye", "left_knee", "right_knee"],
        }
    ]
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
        ("192", "not a COCO dataset: its top level is a JSON number"),
        ("1.5", "not a COCO dataset: its top level is a JSON number"),
        ("true", "not a COCO dataset: its top level is a JSON boolean"),
        ("null", "not a COCO dataset: its top level is a JSON null"),
        ('"images"', "not a COCO dataset: its top level is a JSON string"),
        ('[{"images": []}]', "not a COCO dataset: its top level is a JSON array"),
    ],
)
def test_bad_dataset_json_is_named(tmp_path, content, match):
    json_file = tmp_path / "train.json"
    if content is not None:
        json_file.write_text(content)
    with pytest.raises(DatasetError, match=f"{json_file}: {match}"):
        register_coco_json(f"bad_{len(match)}_{len(content or '')}", str(json_file), str(tmp_path))


def test_missing_image_folder_is_named(tmp_path):
    with pytest.raises(DatasetError, match=f"{tmp_path}/nowhere: image folder"):
        register_coco_json("bad_folder", str(tmp_path / "x.json"), str(tmp_path / "nowhere"))


def _record(path, annotations=True):
    anns = (
        [
            {
                "bbox": [4.0, 4.0, 20.0, 20.0],
                "bbox_mode": 1,
                "category_id": 0,
                "segmentation": [[4, 4, 24, 4, 24, 24, 4, 24]],
                "iscrowd": 0,
            }
        ]
        if annotations
        else []
    )
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

    records = [
        _record(tmp_path / "a.png"),
        dict(_record(tmp_path / "b.png", annotations=False), image_id=2),
    ]
    DatasetCatalog.register("with_empty_image", lambda: records)
    MetadataCatalog.get("with_empty_image").thing_classes = ["thing"]
    with caplog.at_level("INFO"):
        kept = get_detection_dataset_dicts(["with_empty_image"], filter_empty=True)
    assert [d["image_id"] for d in kept] == [1]
    assert "Removed 1 images with no usable annotations" in caplog.text


def _register_from_command_line(name, json_file, image_root):
    """As tools/train_net.py's ``--dataset NAME JSON IMAGE_ROOT`` does."""
    from nl_detectron.engine.defaults import argument_parser, register_datasets

    args = argument_parser().parse_args(["--dataset", name, str(json_file), str(image_root)])
    register_datasets(args)


def _first(coco, key, **where):
    return next(e for e in coco[key] if all(e.get(k) == v for k, v in where.items()))


def _set_height(coco):
    del coco["images"][0]["height"]


# Each malformed variant: (name, change to the COCO dict, entry and problem the error names).
FATAL = [
    ("empty_categories", lambda c: c.update(categories=[]), "'categories' is empty"),
    ("no_height", _set_height, r"image id \d+: missing key 'height'"),
    (
        "string_width",
        lambda c: c["images"][0].update(width="192"),
        r"image id \d+: 'width' must be a positive int, got '192'",
    ),
    (
        "bbox_of_3",
        lambda c: c["annotations"][0].update(bbox=[1, 2, 3]),
        r"annotation id \d+: 'bbox' must be 4 finite numbers",
    ),
    (
        "nan_bbox",
        lambda c: c["annotations"][0].update(bbox=[1, 2, float("nan"), 4]),
        r"annotation id \d+: 'bbox' must be 4 finite numbers",
    ),
    (
        "unknown_category",
        lambda c: c["annotations"][0].update(category_id=99),
        r"annotation id \d+: category_id 99 is not among the categories \[1, 2, 3\]",
    ),
    (
        "missing_image",
        lambda c: c["annotations"][0].update(image_id=12345),
        r"annotation id \d+: image_id 12345 is not among the images",
    ),
    (
        "duplicate_annotation_id",
        lambda c: c["annotations"][1].update(id=c["annotations"][0]["id"]),
        r"annotation id \d+: duplicate id",
    ),
    (
        "duplicate_image_id",
        lambda c: c["images"][1].update(id=c["images"][0]["id"]),
        r"image id \d+: duplicate id",
    ),
    (
        "odd_polygon",
        lambda c: c["annotations"][0].update(segmentation=[[1, 2, 3, 4, 5, 6, 7]]),
        r"annotation id \d+: a polygon needs x, y pairs, got 7 numbers",
    ),
    (
        "string_polygon",
        lambda c: c["annotations"][0].update(segmentation=[["a", "b"]]),
        r"annotation id \d+: a polygon must be a list of finite numbers",
    ),
    (
        "bad_rle",
        lambda c: c["annotations"][0].update(segmentation={"counts": "abc"}),
        r"annotation id \d+: RLE 'size' must be \[height, width\]",
    ),
    (
        "short_keypoints",
        lambda c: c["annotations"][0].update(keypoints=[1, 2, 2]),
        r"annotation id \d+: 'keypoints' must be 12 finite numbers",
    ),
    (
        "annotation_not_object",
        lambda c: c["annotations"].append([1, 2]),
        r"annotation #\d+: an annotation must be a JSON object",
    ),
    (
        "no_annotation_id",
        lambda c: c["annotations"][0].pop("id"),
        r"annotation #0: missing key 'id'",
    ),
    # Every field COCO requires, gone or of the wrong type (a raw TypeError or KeyError in
    # loading or in pycocotools' evaluation otherwise).
    *[
        (
            f"image_without_{key}",
            lambda c, key=key: c["images"][1].pop(key),
            rf"image (id \d+|#1): missing key '{key}' \(COCO requires it of every image\)",
        )
        for key in ("id", "file_name", "height", "width")
    ],
    *[
        (
            f"annotation_without_{key}",
            lambda c, key=key: c["annotations"][1].pop(key),
            rf"annotation (id \d+|#1): missing key '{key}' \(COCO requires it",
        )
        for key in ("image_id", "category_id", "bbox", "area", "iscrowd")
    ],
    *[
        (
            f"category_without_{key}",
            lambda c, key=key: c["categories"][0].pop(key),
            rf"category (id \d+|#0): missing key '{key}' \(COCO requires it",
        )
        for key in ("id", "name")
    ],
    (
        "list_image_id",
        lambda c: c["annotations"][0].update(image_id=[1]),
        r"annotation id \d+: 'image_id' must be an int, got \[1\]",
    ),
    (
        "dict_category_id",
        lambda c: c["annotations"][0].update(category_id={}),
        r"annotation id \d+: 'category_id' must be an int, got \{\}",
    ),
    (
        "string_area",
        lambda c: c["annotations"][0].update(area="big"),
        r"annotation id \d+: 'area' must be a finite number >= 0, got 'big'",
    ),
    (
        "number_category_name",
        lambda c: c["categories"][0].update(name=7),
        r"category id \d+: 'name' must be a string, got 7",
    ),
]


@pytest.mark.parametrize("name, change, match", FATAL, ids=[f[0] for f in FATAL])
def test_malformed_entry_is_named_at_registration(tmp_path, name, change, match):
    from tests.test_reliability import tiny_dataset

    json_file, images, coco = tiny_dataset(tmp_path, num_images=3)
    change(coco)
    json_file.write_text(json.dumps(coco))
    with pytest.raises(DatasetError, match=f"{json_file}: {match}"):
        _register_from_command_line(f"malformed_{name}", json_file, images)


def test_harmless_entries_are_dropped_with_one_warning_and_the_rest_trains(tmp_path, caplog):
    from tests.test_reliability import tiny_dataset

    json_file, images, coco = tiny_dataset(tmp_path, num_images=3)
    degenerate, two_points = coco["annotations"][0], coco["annotations"][1]
    degenerate["bbox"] = [10, 10, 0, 5]
    two_points["segmentation"] = [[1, 1, 5, 5]]
    json_file.write_text(json.dumps(coco))
    _register_from_command_line("harmless_entries", json_file, images)
    assert "dropped 2 annotations that are wrong but harmless" in caplog.text
    assert f"annotation id {degenerate['id']}: degenerate bbox [10, 10, 0, 5]" in caplog.text
    records = DatasetCatalog.get("harmless_entries")
    kept = {a["id"] for r in records for a in r["annotations"]}
    assert len(kept) == len(coco["annotations"]) - 2
    assert degenerate["id"] not in kept and two_points["id"] not in kept
    mapper = CheckedDatasetMapper(small_cfg(), is_train=True)
    for record in records:
        assert mapper(record)["instances"].gt_boxes.tensor.shape[1] == 4
