"""
tools/export_model.py and nl_deploy: an exported model, run without nl_detectron, predicts what
the model predicts in eager mode (TorchScript exactly; ONNX within stated tolerances).
"""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from detectron2.data.detection_utils import read_image
from detectron2.modeling import build_model

from nl_deploy import ExportedModel
from nl_detectron.config import load_config
from nl_detectron.engine.predictor import build_predictor
from nl_detectron.layers import AttentionBlock, NonLocalBlock2d
from tests.helpers import (
    DEMO_CONFIG,
    KEYPOINT_DEMO,
    REPO_ROOT,
    SMALL_IMAGES,
    command_line,
)

# Every detection kept (a seeded model's scores are low), 128-pixel images.
OPTS = command_line(SMALL_IMAGES, {"MODEL.ROI_HEADS.SCORE_THRESH_TEST": 0.0})
# ONNX Runtime's kernels differ from torch's in the last bits, which the seeded (untrained)
# model amplifies: measured up to 0.3 pixels on box corners and 0.0023 on scores (the trained
# demo model: 1e-4 pixels, 2e-6). Tolerances: box corners (pixels of the original image),
# scores, and the share of mask pixels that may differ.
ONNX_BOX_ATOL, ONNX_SCORE_ATOL, ONNX_MASK_MISMATCH = 0.5, 5e-3, 0.005


def val_image(name):
    return os.path.join(os.environ["DETECTRON2_DATASETS"], "nl_demo_shapes", "val", name)


def seeded_weights(config, path):
    """A seeded model whose NL blocks are not the identity (W_z drawn, the norm scale 0.5)."""
    torch.manual_seed(0)
    model = build_model(load_config(config, ["MODEL.DEVICE", "cpu"]))
    for block in model.modules():
        if isinstance(block, NonLocalBlock2d):
            torch.nn.init.normal_(block.out.weight, std=0.01)
            torch.nn.init.constant_(block.norm.weight, 0.5)
    torch.save({"model": model.state_dict()}, path)
    return str(path)


def export(config, weights, fmt, output_dir, ok=True, opts=OPTS):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "tools", "export_model.py"),
         "--config-file", config, "--format", fmt, "--sample-image", val_image("0001.png"),
         "--output", str(output_dir), *opts, "MODEL.WEIGHTS", weights],
        capture_output=True, text=True,
    )  # fmt: skip
    assert (result.returncode == 0) == ok, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Two validation images, and one of them resized to another size and aspect ratio."""
    other = str(tmp_path_factory.mktemp("images") / "other_size.png")
    cv2.imwrite(other, cv2.resize(cv2.imread(val_image("0002.png")), (224, 160)))
    return [val_image("0001.png"), val_image("0003.png"), other]


@pytest.fixture(scope="module")
def mask_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("mask")
    weights = seeded_weights(DEMO_CONFIG, out / "seeded.pth")
    cfg = load_config(DEMO_CONFIG, [*OPTS, "MODEL.WEIGHTS", weights])
    return out, weights, build_predictor(cfg)


def eager_and_exported(predictor, exported, path):
    image = read_image(path, format="BGR")
    return predictor(image)["instances"], exported(image)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_mask_rcnn_predicts_what_eager_predicts(mask_model, images, fmt):
    out, weights, predictor = mask_model
    export(DEMO_CONFIG, weights, fmt, out / fmt)
    exported = ExportedModel(
        str(out / fmt / ("model.ts" if fmt == "torchscript" else "model.onnx"))
    )
    for path in images:
        eager, got = eager_and_exported(predictor, exported, path)
        assert len(eager) > 5 and got.image_size == eager.image_size, path
        assert torch.equal(got.pred_classes, eager.pred_classes), path
        if fmt == "torchscript":
            assert torch.equal(got.pred_boxes.tensor, eager.pred_boxes.tensor), path
            assert torch.equal(got.scores, eager.scores), path
            assert torch.equal(got.pred_masks, eager.pred_masks), path
        else:
            assert torch.allclose(
                got.pred_boxes.tensor, eager.pred_boxes.tensor, atol=ONNX_BOX_ATOL
            )
            assert torch.allclose(got.scores, eager.scores, atol=ONNX_SCORE_ATOL), path
            mismatch = (got.pred_masks != eager.pred_masks).float().mean().item()
            assert mismatch < ONNX_MASK_MISMATCH, (path, mismatch)


# Keypoints (x, y in pixels, score) of the exported keypoint R-CNN against eager: equal to float
# rounding (1e-4 relative: 0.01 pixel at 100).
KEYPOINT_TOL = dict(rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_exported_keypoint_rcnn_predicts_the_keypoints_eager_predicts(
    tmp_path, images, keypoint_weights
):
    weights = keypoint_weights
    export(KEYPOINT_DEMO, weights, "torchscript", tmp_path)
    predictor = build_predictor(load_config(KEYPOINT_DEMO, [*OPTS, "MODEL.WEIGHTS", weights]))
    exported = ExportedModel(str(tmp_path / "model.ts"))
    detections = 0
    for path in images:
        eager, got = eager_and_exported(predictor, exported, path)
        assert len(got) == len(eager), path
        # The head's blocks batch-normalise the RoIs: TorchScript's executor may run that norm
        # as other float operations, which round differently in the last bits.
        torch.testing.assert_close(got.pred_keypoints, eager.pred_keypoints, **KEYPOINT_TOL)
        assert torch.equal(got.pred_boxes.tensor, eager.pred_boxes.tensor), path
        detections += len(eager)
    assert detections > 0  # the comparison compared keypoints (score threshold 0)


@pytest.mark.slow
def test_keypoint_rcnn_to_onnx_is_refused_naming_the_operator(tmp_path, keypoint_weights):
    result = export(KEYPOINT_DEMO, keypoint_weights, "onnx", tmp_path, ok=False)
    assert result.returncode == 2 and "is blocked by operator aten::index" in result.stderr
    assert "Traceback" not in result.stderr


def test_retinanet_is_refused_naming_what_blocks_its_trace(tmp_path):
    config = os.path.join(REPO_ROOT, "configs", "retinanet_R50_NL.yaml")
    result = export(config, "", "torchscript", tmp_path, ok=False)
    assert "DenseDetector._decode_per_level_predictions" in result.stderr
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_the_runtime_imports_no_nl_detectron_code(mask_model):
    out, weights, _ = mask_model
    path = out / "torchscript" / "model.ts"
    if not path.exists():
        export(DEMO_CONFIG, weights, "torchscript", out / "torchscript")
    script = (
        "import sys, cv2; from nl_deploy import ExportedModel; "
        f"instances = ExportedModel({str(path)!r})(cv2.imread({val_image('0001.png')!r})); "
        "assert len(instances) > 0; "
        "print(sorted(m for m in sys.modules if m.startswith('nl_detectron')))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_demo_draws_an_exported_models_predictions(mask_model, tmp_path):
    out, weights, _ = mask_model
    path = out / "onnx" / "model.onnx"
    if not path.exists():
        export(DEMO_CONFIG, weights, "onnx", out / "onnx")
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "tools", "demo.py"), "--exported", str(path),
         "--input", val_image("0001.png"), "--output", str(tmp_path), "--confidence-threshold",
         "0.0"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    drawn = cv2.imread(str(tmp_path / "0001.png"))
    assert drawn.shape == cv2.imread(val_image("0001.png")).shape
    assert not np.array_equal(drawn, cv2.imread(val_image("0001.png")))


def test_a_missing_sample_image_is_named(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "tools", "export_model.py"), "--config-file",
         DEMO_CONFIG, "--sample-image", str(tmp_path / "nothing.png"), "--output", str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2 and "nothing.png" in result.stderr
    assert "Traceback" not in result.stderr


def _top_scores(predictor, paths):
    """{path: the highest score of the image's detections (0 without any)}."""
    scores = {}
    for path in paths:
        instances = predictor(read_image(path, format="BGR"))["instances"]
        scores[path] = instances.scores.max().item() if len(instances) else 0.0
    return scores


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory):
    """A 16x16 image, a 32x1000 one and a flat grey one, cut from a validation image."""
    folder = tmp_path_factory.mktemp("odd")
    image = cv2.imread(val_image("0002.png"))
    paths = {
        "tiny": (cv2.resize(image, (16, 16)), folder / "tiny.png"),
        "wide": (cv2.resize(image, (1000, 32)), folder / "wide.png"),
        "grey": (np.full_like(image, 128), folder / "grey.png"),
    }
    for picture, path in paths.values():
        cv2.imwrite(str(path), picture)
    return {name: str(path) for name, (_, path) in paths.items()}


def _export_traced_with_detections_run_without(config, weights, fmt, out, candidates):
    """
    Export with a score threshold between two images' top scores, traced on the image above it:
    the exported model then meets an image with no detection that its trace never saw.
    Returns (eager predictor at that threshold, exported model, image with, image without).
    """
    top = _top_scores(
        build_predictor(load_config(config, [*OPTS, "MODEL.WEIGHTS", weights])), candidates
    )
    with_detections, without = max(top, key=top.get), min(top, key=top.get)
    assert top[with_detections] > top[without], top
    threshold = (top[with_detections] + top[without]) / 2
    opts = [*OPTS, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", str(threshold), "MODEL.WEIGHTS", weights]
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "tools", "export_model.py"),
         "--config-file", config, "--format", fmt, "--sample-image", with_detections,
         "--output", str(out), *opts],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    exported = ExportedModel(str(out / ("model.ts" if fmt == "torchscript" else "model.onnx")))
    return build_predictor(load_config(config, opts)), exported, with_detections, without


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_mask_rcnn_without_detection_and_on_tiny_and_wide_images(
    mask_model, images, odd_images, fmt, tmp_path
):
    _, weights, _ = mask_model
    predictor, exported, with_detections, without = _export_traced_with_detections_run_without(
        DEMO_CONFIG, weights, fmt, tmp_path, [*images, *odd_images.values()]
    )
    for path in (with_detections, without, odd_images["tiny"], odd_images["wide"]):
        eager, got = eager_and_exported(predictor, exported, path)
        assert len(got) == len(eager) and got.image_size == eager.image_size, path
        if fmt == "torchscript":
            assert torch.equal(got.pred_boxes.tensor, eager.pred_boxes.tensor), path
            assert torch.equal(got.pred_masks, eager.pred_masks), path
    assert len(exported(read_image(with_detections, format="BGR"))) > 0
    assert len(exported(read_image(without, format="BGR"))) == 0


@pytest.mark.slow
def test_exported_keypoint_rcnn_without_detection_and_on_tiny_and_wide_images(
    images, odd_images, keypoint_weights, tmp_path
):
    """The NL keypoint head traced with boxes, then given none (the crash of a camera's
    empty frames)."""
    predictor, exported, with_detections, without = _export_traced_with_detections_run_without(
        KEYPOINT_DEMO, keypoint_weights, "torchscript", tmp_path, [*images, *odd_images.values()]
    )
    for path in (with_detections, without, odd_images["tiny"], odd_images["wide"]):
        eager, got = eager_and_exported(predictor, exported, path)
        assert len(got) == len(eager) and got.image_size == eager.image_size, path
        torch.testing.assert_close(got.pred_keypoints, eager.pred_keypoints, **KEYPOINT_TOL)
    assert len(exported(read_image(without, format="BGR"))) == 0


FAST_DEMO = os.path.join(REPO_ROOT, "configs", "demo", "mask_rcnn_R18_NL_fast.yaml")


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
@pytest.mark.parametrize("block", ["simplified", "gc", "disentangled"])
def test_every_block_of_the_family_exports(block, fmt, tmp_path):
    """The fast demo's model with each block (perturbed, so not the identity), traced."""
    torch.manual_seed(0)
    opts = [*OPTS, "MODEL.NONLOCAL.BLOCK", block]
    model = build_model(load_config(FAST_DEMO, ["MODEL.DEVICE", "cpu", *opts]))
    for name, module in model.named_modules():
        if ".nonlocal" in name and isinstance(module, AttentionBlock):
            for p in module.parameters():
                torch.nn.init.normal_(p, std=0.1)
    weights = str(tmp_path / "seeded.pth")
    torch.save({"model": model.state_dict()}, weights)
    export(FAST_DEMO, weights, fmt, tmp_path, opts=opts)
    exported = ExportedModel(str(tmp_path / ("model.ts" if fmt == "torchscript" else "model.onnx")))
    predictor = build_predictor(load_config(FAST_DEMO, [*opts, "MODEL.WEIGHTS", weights]))
    eager, got = eager_and_exported(predictor, exported, val_image("0003.png"))
    assert len(eager) > 5 and torch.equal(got.pred_classes, eager.pred_classes)
    atol = 0 if fmt == "torchscript" else ONNX_BOX_ATOL
    torch.testing.assert_close(got.pred_boxes.tensor, eager.pred_boxes.tensor, rtol=0, atol=atol)
