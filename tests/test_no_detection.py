"""
The tools as a user runs them where the model detects nothing, and on a 16x16 and a 32x1000
image: the NL keypoint model (4 blocks in its head, which then get zero boxes), with seeded
weights, since no training is needed to detect nothing.
"""

import os

import cv2
import numpy as np
import pytest

from tests.helpers import (
    DEMO_CONFIG,
    KEYPOINT_DEMO,
    SMALL_IMAGES,
    command_line,
    run_tool,
)

SMALL = command_line(SMALL_IMAGES)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """{name: path}: a 192x192 textured image, a 16x16 one and a 32x1000 one."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = {}
    for name, (h, w) in {"any": (192, 192), "tiny": (16, 16), "wide": (32, 1000)}.items():
        paths[name] = str(folder / f"{name}.png")
        cv2.imwrite(paths[name], rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return paths


@pytest.mark.parametrize("size", ["resized", "kept"])
def test_demo_draws_images_without_detections(images, tmp_path, size):
    """The issue's command: every frame of a camera without a person in it."""
    opts = ["INPUT.MIN_SIZE_TEST", "0"] if size == "kept" else []
    code, log = run_tool(
        "demo.py", "--config-file", KEYPOINT_DEMO, "--input", *images.values(),
        "--output", str(tmp_path), "--confidence-threshold", "1.0", *opts,
    )  # fmt: skip
    assert code == 0, log[-3000:]
    for name, path in images.items():
        drawn = cv2.imread(str(tmp_path / f"{name}.png"))
        assert drawn is not None and drawn.shape == cv2.imread(path).shape, name


def test_attention_maps_without_detections_says_to_give_queries(images, tmp_path):
    code, log = run_tool(
        "attention_maps.py", "--config-file", KEYPOINT_DEMO, "--input", images["any"],
        "--output", str(tmp_path), "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "1.0", *SMALL,
    )  # fmt: skip
    assert code == 2 and "Traceback" not in log, log[-3000:]
    assert f"{images['any']}: the model detected nothing" in log and "--query X Y" in log
    assert not os.listdir(tmp_path)


def test_attention_maps_of_tiny_and_wide_images(images, tmp_path):
    """Kept at their size (a 1x1 and a 1-row res4 key grid); resized, they are ordinary maps."""
    opts = ["INPUT.MIN_SIZE_TEST", "0"]
    for name in ("tiny", "wide"):
        code, log = run_tool(
            "attention_maps.py", "--config-file", KEYPOINT_DEMO, "--input", images[name],
            "--output", str(tmp_path / name), "--query", "0", "0", "--query", "15", "15", *opts,
            # random weights: no detection, whose keypoint decoding would assert on their heatmaps
            "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "1.0",
        )  # fmt: skip
        assert code == 0, log[-3000:]
        assert len(os.listdir(tmp_path / name)) == 3, name


def test_coco_evaluation_without_detections_is_ap_0(tmp_path):
    code, log = run_tool(
        "train_net.py", "--config-file", KEYPOINT_DEMO, "--eval-only", *SMALL,
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "1.0", "OUTPUT_DIR", str(tmp_path),
    )  # fmt: skip
    assert code == 0, log[-3000:]
    assert "the model detected nothing on any image" in log
    assert "copypaste: 0.0000,0.0000,0.0000,0.0000,0.0000" in log and "nan" not in log


def test_coco_evaluation_of_a_16x16_and_a_32x1000_image(images, tmp_path):
    """A COCO-format dataset of the two odd images, evaluated as train_net evaluates any."""
    import json

    coco = {
        "images": [
            {"id": 1, "file_name": "tiny.png", "height": 16, "width": 16},
            {"id": 2, "file_name": "wide.png", "height": 32, "width": 1000},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 10], "area": 100,
             "iscrowd": 0, "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]]},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [100, 4, 300, 20], "area": 6000,
             "iscrowd": 0, "segmentation": [[100, 4, 400, 4, 400, 24, 100, 24]]},
        ],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}],
    }  # fmt: skip
    json_file = tmp_path / "odd.json"
    json_file.write_text(json.dumps(coco))
    image_root = os.path.dirname(images["tiny"])
    for size in ([], ["INPUT.MIN_SIZE_TEST", "0"]):
        code, log = run_tool(
            "train_net.py", "--config-file", DEMO_CONFIG, "--eval-only", "--dataset", "odd",
            str(json_file),
            image_root, "DATASETS.TEST", "('odd',)", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
            "OUTPUT_DIR", str(tmp_path / "out"), *size,
        )  # fmt: skip
        assert code == 0, log[-3000:]
        assert "Evaluation results for bbox" in log and "Evaluation results for segm" in log
