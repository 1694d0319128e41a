"""The command-line tools, run as a user runs them, on the built-in demo dataset."""
import json
import os
import subprocess
import sys

import cv2
import pytest

from tests.helpers import DEMO_CONFIG, REPO_ROOT

SMALL = [
    "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "128",
    "INPUT.MIN_SIZE_TEST", "128", "INPUT.MAX_SIZE_TEST", "128",
    "DATASETS.TRAIN", "('nl_demo_shapes_val',)", "SOLVER.IMS_PER_BATCH", "2",
]


def _run(script, *args):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "tools", script), *args],
        capture_output=True, text=True, cwd=REPO_ROOT, env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained for a few iterations by tools/train_net.py, with its output folder."""
    out = tmp_path_factory.mktemp("train")
    log = _run(
        "train_net.py", "--config-file", DEMO_CONFIG,
        *SMALL, "SOLVER.MAX_ITER", "4", "OUTPUT_DIR", str(out),
    )
    return out, log


@pytest.mark.slow
def test_train_net_trains_and_evaluates(trained):
    out, log = trained
    assert (out / "model_final.pth").exists()
    assert (out / "inference" / "coco_instances_results.json").exists()
    metrics = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    assert any("bbox/AP" in m and "segm/AP" in m for m in metrics)
    assert "Evaluation results for segm" in log


@pytest.mark.slow
def test_train_net_eval_only(trained, tmp_path):
    out, _ = trained
    log = _run(
        "train_net.py", "--config-file", DEMO_CONFIG, "--eval-only", *SMALL,
        "MODEL.WEIGHTS", str(out / "model_final.pth"), "OUTPUT_DIR", str(tmp_path),
    )
    assert "Evaluation results for bbox" in log and "Evaluation results for segm" in log
    assert (tmp_path / "inference" / "instances_predictions.pth").exists()


@pytest.mark.slow
def test_demo_draws_predictions_and_skips_a_bad_file(trained, tmp_path):
    out, _ = trained
    from detectron2.data import MetadataCatalog

    image_root = MetadataCatalog.get("nl_demo_shapes_val").image_root
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    pictures = tmp_path / "pictures"
    log = _run(
        "demo.py", "--config-file", DEMO_CONFIG, "--confidence-threshold", "0.0",
        "--input", os.path.join(image_root, "000[12].png"), str(bad),
        "--output", str(pictures), "MODEL.WEIGHTS", str(out / "model_final.pth"),
    )
    assert f"Skipped {bad}" in log
    assert sorted(os.listdir(pictures)) == ["0001.png", "0002.png"]
    for name in ("0001.png", "0002.png"):
        drawn = cv2.imread(str(pictures / name))
        original = cv2.imread(os.path.join(image_root, name))
        assert drawn.shape == original.shape
        assert drawn.std() > 0
        assert (drawn != original).any()  # something was drawn
