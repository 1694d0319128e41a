"""
docs/reliability.md's table, met the way a user meets it: tools/train_net.py on the command line,
with the real data loader and real training steps (the unit tests beside each part stay too).
"""

import json
import os
import shutil
import subprocess
import sys

import cv2
import pytest
import torch

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import build_model

from tests.helpers import DEMO_CONFIG, REPO_ROOT, SMALL_TRAINING, call_tool, command_line, small_cfg
from tests.test_checkpoint import _CreatesFile

SMALL = command_line(SMALL_TRAINING, {"DATASETS.TEST": "()"})
CONFIG = ["--config-file", DEMO_CONFIG]


def train_net(*args, ok=True):
    """Run tools/train_net.py; its exit status must be 0 (``ok``) or not; returns its output."""
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO_ROOT, "tools", "train_net.py"),
            "--config-file",
            DEMO_CONFIG,
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=dict(os.environ),
        timeout=600,
    )
    log = result.stdout + result.stderr
    assert (result.returncode == 0) == ok, log[-4000:]
    return log


def tiny_dataset(root, num_images=6):
    """The first ``num_images`` of the demo's validation set as its own COCO dataset under
    ``root``: returns (json path, image folder, COCO dict)."""
    DatasetCatalog.get("nl_demo_shapes_val")  # generated on first use
    meta = MetadataCatalog.get("nl_demo_shapes_val")
    with open(meta.json_file) as f:
        coco = json.load(f)
    coco["images"] = coco["images"][:num_images]
    ids = {image["id"] for image in coco["images"]}
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in ids]
    images = root / "images"
    images.mkdir()
    for image in coco["images"]:
        shutil.copy(os.path.join(meta.image_root, image["file_name"]), images)
    json_file = root / "train.json"
    json_file.write_text(json.dumps(coco))
    return json_file, images, coco


@pytest.mark.slow
def test_corrupt_image_is_skipped_and_training_ends(tmp_path):
    """The reproduction of issue 14: one corrupt PNG in a 6-image training set."""
    json_file, images, coco = tiny_dataset(tmp_path)
    corrupt = images / coco["images"][1]["file_name"]
    corrupt.write_bytes(b"these bytes are not an image")
    log = train_net(
        "--dataset",
        "tiny_train",
        str(json_file),
        str(images),
        *SMALL,
        "DATASETS.TRAIN",
        "('tiny_train',)",
        "SOLVER.MAX_ITER",
        "6",
        "OUTPUT_DIR",
        str(tmp_path / "out"),
    )
    assert f"Skipped {corrupt}: cannot read this image" in log
    assert "1 of 6 training images skipped so far" in log
    assert (tmp_path / "out" / "model_final.pth").exists()


@pytest.mark.slow
def test_missing_grayscale_4_channel_and_unannotated_images_in_one_training(tmp_path):
    json_file, images, coco = tiny_dataset(tmp_path)
    names = [image["file_name"] for image in coco["images"]]
    os.remove(images / names[0])  # missing
    gray = cv2.imread(str(images / names[2]), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(images / names[2]), gray)
    bgra = cv2.cvtColor(cv2.imread(str(images / names[3])), cv2.COLOR_BGR2BGRA)
    cv2.imwrite(str(images / names[3]), bgra)
    unannotated = coco["images"][4]["id"]
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] != unannotated]
    json_file.write_text(json.dumps(coco))
    assert cv2.imread(str(images / names[3]), cv2.IMREAD_UNCHANGED).shape[2] == 4
    log = train_net(
        "--dataset",
        "tiny_mixed",
        str(json_file),
        str(images),
        *SMALL,
        "DATASETS.TRAIN",
        "('tiny_mixed',)",
        "SOLVER.MAX_ITER",
        "8",
        "OUTPUT_DIR",
        str(tmp_path / "out"),
    )
    assert f"Skipped {images / names[0]}" in log
    assert f"Skipped {images / names[2]}" not in log and f"Skipped {images / names[3]}" not in log
    assert "Removed 1 images with no usable annotations" in log
    assert (tmp_path / "out" / "model_final.pth").exists()


@pytest.mark.slow
def test_every_image_unreadable_is_an_error_not_a_loop(tmp_path):
    json_file, images, coco = tiny_dataset(tmp_path, num_images=2)
    for image in coco["images"]:
        (images / image["file_name"]).write_bytes(b"not an image")
    log = train_net(
        "--dataset",
        "tiny_broken",
        str(json_file),
        str(images),
        *SMALL,
        "DATASETS.TRAIN",
        "('tiny_broken',)",
        "SOLVER.MAX_ITER",
        "2",
        "OUTPUT_DIR",
        str(tmp_path / "out"),
        ok=False,
    )
    assert "every one of the 2 training images was skipped" in log


@pytest.mark.slow
def test_malformed_json_fails_before_training_naming_file_and_entry(tmp_path):
    json_file, images, coco = tiny_dataset(tmp_path, num_images=2)
    del coco["images"][1]["height"]
    json_file.write_text(json.dumps(coco))
    log = train_net(
        "--dataset",
        "tiny_bad_json",
        str(json_file),
        str(images),
        *SMALL,
        "DATASETS.TRAIN",
        "('tiny_bad_json',)",
        ok=False,
    )
    image_id = coco["images"][1]["id"]
    assert f"DatasetError: {json_file}: image id {image_id}: missing key 'height'" in log


def test_misspelled_config_key_on_the_command_line(tmp_path):
    with pytest.raises(KeyError) as error:
        call_tool("train_net", *CONFIG, "MODEL.NONLOCAL.MDOE", "gaussian", "OUTPUT_DIR", tmp_path)
    message = "unknown config key MODEL.NONLOCAL.MDOE; did you mean MODEL.NONLOCAL.MODE?"
    assert message in str(error.value)


@pytest.mark.slow
def test_checkpoint_that_is_not_one_is_named(tmp_path):
    weights = tmp_path / "model.pth"
    weights.write_bytes(b"not a checkpoint")
    log = train_with_weights(weights, tmp_path / "out", ok=False)
    assert f"CheckpointReadError: {weights}: not a readable checkpoint" in log


@pytest.mark.slow
def test_corrupt_image_at_evaluation_is_named(tmp_path):
    json_file, images, coco = tiny_dataset(tmp_path, num_images=2)
    corrupt = images / coco["images"][0]["file_name"]
    corrupt.write_bytes(b"not an image")
    log = train_net(
        "--eval-only",
        "--dataset",
        "tiny_eval",
        str(json_file),
        str(images),
        *SMALL,
        "DATASETS.TEST",
        "('tiny_eval',)",
        "OUTPUT_DIR",
        str(tmp_path / "out"),
        ok=False,
    )
    assert f"{corrupt}: cannot read this image" in log


def train_with_weights(weights, output_dir, ok=True):
    """One training step on the demo's validation images, starting from ``weights``."""
    weights_opts = ["MODEL.WEIGHTS", str(weights), "OUTPUT_DIR", str(output_dir)]
    return train_net(*SMALL, "SOLVER.MAX_ITER", "1", *weights_opts, ok=ok)


@pytest.fixture(scope="module")
def trained_weights():
    """A checkpoint's contents for the demo model: its state dict (random weights serve)."""
    torch.manual_seed(0)
    return {"model": build_model(small_cfg()).state_dict()}


@pytest.mark.slow
def test_checkpoint_with_code_is_refused_and_the_code_does_not_run(tmp_path, trained_weights):
    marker = tmp_path / "code_ran"
    weights = tmp_path / "evil.pth"
    torch.save({"model": trained_weights["model"], "payload": _CreatesFile(str(marker))}, weights)
    log = train_with_weights(weights, tmp_path / "out", ok=False)
    assert "UnsafeCheckpointError" in log and str(weights) in log
    assert not marker.exists()


@pytest.mark.slow
def test_checkpoint_with_wrong_shapes_loads_the_rest_and_trains(tmp_path, trained_weights):
    model = dict(trained_weights["model"])
    key = "roi_heads.box_predictor.cls_score.weight"
    model[key] = torch.zeros(7, model[key].shape[1])
    weights = tmp_path / "other_classes.pth"
    torch.save({"model": model}, weights)
    log = train_with_weights(weights, tmp_path / "out")
    assert key in log and f"(7, {model[key].shape[1]})" in log
    assert (tmp_path / "out" / "model_final.pth").exists()


@pytest.mark.slow
def test_crop_with_polygon_masks_trains(tmp_path):
    train_net(
        *SMALL,
        "DATASETS.TRAIN",
        "('nl_demo_shapes_val',)",
        "SOLVER.MAX_ITER",
        "2",
        "INPUT.CROP.ENABLED",
        "True",
        "INPUT.CROP.TYPE",
        "relative_range",
        "INPUT.CROP.SIZE",
        "[0.5, 0.5]",
        "OUTPUT_DIR",
        str(tmp_path),
    )
    assert (tmp_path / "model_final.pth").exists()


@pytest.mark.parametrize(
    "opts, message",
    [
        (["MODEL.NONLOCAL.MODE", "cosine"], "MODEL.NONLOCAL.MODE = 'cosine' is not one of"),
        (["MODEL.NONLOCAL.AFTER_BLOCKS.RES4", "[9]"], "block index 9 is out of range for res4"),
        (["MODEL.BACKBONE.FREEZE_AT", "4"], "res4 is frozen by MODEL.BACKBONE.FREEZE_AT = 4"),
        (
            ["MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone", "MODEL.NONLOCAL.MODE", "gaussian"],
            "MODEL.NONLOCAL.MODE = 'gaussian' set, but MODEL.BACKBONE.NAME",
        ),
    ],
    ids=["unknown_mode", "index_out_of_range", "frozen_stage", "nl_keys_without_nl_backbone"],
)
def test_bad_config_value_fails_before_training_naming_key_and_value(tmp_path, opts, message):
    with pytest.raises(ValueError) as error:
        call_tool("train_net", *CONFIG, *SMALL, *opts, "OUTPUT_DIR", tmp_path)
    assert message in str(error.value)
    assert not (tmp_path / "model_final.pth").exists()


def test_misspelled_key_in_a_yaml_file(tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text(f'_BASE_: "{DEMO_CONFIG}"\nMODEL:\n  NONLOCAL:\n    MDOE: "gaussian"\n')
    with pytest.raises(KeyError) as error:
        call_tool("train_net", "--config-file", config, "OUTPUT_DIR", tmp_path)
    assert f"{config}: unknown config key MODEL.NONLOCAL.MDOE" in str(error.value)
