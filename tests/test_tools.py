"""The command-line tools, run as a user runs them, on the built-in demo dataset."""

import json
import os

import cv2
import pytest

from tests.helpers import (
    DEMO_BLOCK,
    DEMO_CONFIG,
    SMALL_TRAINING,
    command_line,
    confident_weights,
    run_tool,
)

# Every proposal kept at test time: a briefly trained model may score all its boxes near 0, and
# the evaluation of masks needs detections.
SMALL = command_line(SMALL_TRAINING, {"MODEL.ROI_HEADS.SCORE_THRESH_TEST": "0.0"})


def _run(script, *args):
    code, log = run_tool(script, *args)
    assert code == 0, log[-6000:]
    return log


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained for a few iterations by tools/train_net.py, with its output folder."""
    out = tmp_path_factory.mktemp("train")
    log = _run(
        "train_net.py",
        "--config-file",
        DEMO_CONFIG,
        *SMALL,
        "SOLVER.MAX_ITER",
        "4",
        "OUTPUT_DIR",
        str(out),
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
        "train_net.py",
        "--config-file",
        DEMO_CONFIG,
        "--eval-only",
        *SMALL,
        "MODEL.WEIGHTS",
        str(out / "model_final.pth"),
        "OUTPUT_DIR",
        str(tmp_path),
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
        "demo.py",
        "--config-file",
        DEMO_CONFIG,
        "--confidence-threshold",
        "0.0",
        "--input",
        os.path.join(image_root, "000[12].png"),
        str(bad),
        "--output",
        str(pictures),
        "MODEL.WEIGHTS",
        str(out / "model_final.pth"),
    )
    assert f"Skipped {bad}" in log
    assert sorted(os.listdir(pictures)) == ["0001.png", "0002.png"]
    for name in ("0001.png", "0002.png"):
        drawn = cv2.imread(str(pictures / name))
        original = cv2.imread(os.path.join(image_root, name))
        assert drawn.shape == original.shape
        assert drawn.std() > 0
        assert (drawn != original).any()  # something was drawn


@pytest.mark.slow
def test_eval_report_and_comparison(trained, tmp_path):
    out, _ = trained
    report = json.loads((out / "eval_report.json").read_text())
    assert {"bbox", "segm"} <= set(report) and "AP" in report["segm"]
    markdown = (out / "eval_report.md").read_text()
    assert "## segm" in markdown and "| AP | AP50 |" in markdown and "| circle |" in markdown
    table = _run(
        "compare_reports.py",
        str(out / "eval_report.json"),
        str(out / "eval_report.json"),
        "--names",
        "a",
        "b",
    )
    assert "| task | metric | a | b | b - a |" in table
    assert (
        f"| segm | AP | {report['segm']['AP']:.2f} | {report['segm']['AP']:.2f} | +0.00 |" in table
    )


@pytest.mark.slow
def test_plot_curves(trained, tmp_path):
    out, _ = trained
    png = tmp_path / "curves.png"
    log = _run(
        "plot_curves.py",
        "--run",
        "NL",
        str(out / "metrics.json"),
        "--run",
        "again",
        str(out / "metrics.json"),
        "--output",
        str(png),
    )
    assert "total_loss" in log and "segm/AP" in log
    image = cv2.imread(str(png))
    assert image.shape[0] > 200 and image.shape[1] > 400 and image.std() > 10


@pytest.mark.slow
def test_attention_maps_for_given_and_default_queries(trained, tmp_path):
    out, _ = trained
    from detectron2.data import MetadataCatalog

    image_path = os.path.join(MetadataCatalog.get("nl_demo_shapes_val").image_root, "0001.png")
    common = ["--config-file", DEMO_CONFIG, "--input", image_path]
    weights = [
        "MODEL.WEIGHTS",
        str(out / "model_final.pth"),
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST",
        "0.0",
    ]
    _run(
        "attention_maps.py",
        *common,
        "--output",
        str(tmp_path / "given"),
        "--query",
        "10",
        "20",
        "--query",
        "150",
        "100",
        *weights,
    )
    names = sorted(os.listdir(tmp_path / "given"))
    assert names == [
        f"0001_{DEMO_BLOCK}_panel.png",
        f"0001_{DEMO_BLOCK}_x10_y20.png",
        f"0001_{DEMO_BLOCK}_x150_y100.png",
    ]
    height, width = cv2.imread(image_path).shape[:2]  # 192 x 192
    scale, bar = 3, 90  # drawn at least 512 pixels high (3x, nearest), then the colour bar
    pictures = [cv2.imread(str(tmp_path / "given" / name)) for name in names]
    for picture in pictures[1:]:
        assert picture.shape == (height * scale, width * scale + bar, 3) and picture.std() > 10
        # the block's cells are outlined: rows (and columns) of white across the image
        white = (picture[:, : width * scale] == 255).all(axis=2)
        assert (white.mean(axis=1) > 0.9).sum() >= 2 and (white.mean(axis=0) > 0.9).sum() >= 2
    assert pictures[0].shape == (height * scale, 2 * (width * scale + bar) + 8, 3)
    # Detections forced: a confident classifier, every score kept, no suppression.
    confident = confident_weights(out / "model_final.pth", tmp_path / "confident.pth")
    forced = ["MODEL.WEIGHTS", confident, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"]
    forced += ["MODEL.ROI_HEADS.NMS_THRESH_TEST", "1.0"]
    _run("attention_maps.py", *common, "--output", str(tmp_path / "top"), "--top-k", "2", *forced)
    assert len(os.listdir(tmp_path / "top")) == 3


@pytest.mark.slow
def test_demo_json_output_and_results_viewer(trained, tmp_path):
    out, _ = trained
    from pycocotools.coco import COCO

    from detectron2.data import MetadataCatalog

    meta = MetadataCatalog.get("nl_demo_shapes_val")
    results = tmp_path / "results.json"
    _run(
        "demo.py",
        "--config-file",
        DEMO_CONFIG,
        "--confidence-threshold",
        "0.0",
        "--input",
        os.path.join(meta.image_root, "0001.png"),
        "--output",
        str(tmp_path / "p"),
        "--json-output",
        str(results),
        "MODEL.WEIGHTS",
        str(out / "model_final.pth"),
    )
    predictions = json.loads(results.read_text())
    assert predictions and {
        "image_id",
        "category_id",
        "bbox",
        "score",
        "segmentation",
        "file_name",
    } <= set(predictions[0])
    COCO(meta.json_file).loadRes(str(results))  # pycocotools accepts it

    _run(
        "visualize_json_results.py",
        "--input",
        str(out / "inference" / "coco_instances_results.json"),
        "--dataset-name",
        "nl_demo_shapes_val",
        "--output",
        str(tmp_path / "v"),
        "--limit",
        "2",
        "--conf-threshold",
        "0.0",
    )
    assert sorted(os.listdir(tmp_path / "v")) == ["0001.png", "0002.png"]
    picture = cv2.imread(str(tmp_path / "v" / "0001.png"))
    assert picture.shape[:2] == (192, 384) and picture.std() > 10


@pytest.mark.slow
def test_train_on_a_coco_json_given_on_the_command_line(tmp_path):
    from detectron2.data import DatasetCatalog, MetadataCatalog

    DatasetCatalog.get("nl_demo_shapes_val")  # generated on first use
    meta = MetadataCatalog.get("nl_demo_shapes_val")
    # A user's COCO JSON: the first 8 of the demo's validation images, with their keypoints.
    with open(meta.json_file) as f:
        coco = json.load(f)
    coco["images"] = coco["images"][:8]
    kept = {image["id"] for image in coco["images"]}
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in kept]
    json_file = tmp_path / "my_shapes.json"
    json_file.write_text(json.dumps(coco))
    log = _run(
        "train_net.py",
        "--config-file",
        DEMO_CONFIG,
        "--dataset",
        "my_shapes",
        json_file,
        meta.image_root,
        *SMALL,
        "DATASETS.TRAIN",
        "('my_shapes',)",
        "DATASETS.TEST",
        "('my_shapes',)",
        "MODEL.KEYPOINT_ON",
        "True",
        "MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS",
        "4",
        "TEST.KEYPOINT_OKS_SIGMAS",
        "[0.05, 0.05, 0.05, 0.05]",
        "SOLVER.MAX_ITER",
        "2",
        "OUTPUT_DIR",
        str(tmp_path / "out"),
    )
    assert "Registered dataset 'my_shapes': 8 images, 3 categories" in log
    report = json.loads((tmp_path / "out" / "eval_report.json").read_text())
    assert {"bbox", "segm", "keypoints"} <= set(report)


@pytest.mark.slow
def test_demo_draws_every_frame_of_a_video(trained, tmp_path):
    out, _ = trained
    from detectron2.data import MetadataCatalog

    image_root = MetadataCatalog.get("nl_demo_shapes_val").image_root
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5, (192, 192))
    for i in range(1, 5):
        writer.write(cv2.imread(os.path.join(image_root, f"000{i}.png")))
    writer.release()
    log = _run(
        "demo.py",
        "--config-file",
        DEMO_CONFIG,
        "--confidence-threshold",
        "0.0",
        "--input",
        str(video),
        "--output",
        str(tmp_path / "drawn"),
        "MODEL.WEIGHTS",
        str(out / "model_final.pth"),
    )
    assert f"Drew 4 frames of {video}" in log
    capture = cv2.VideoCapture(str(tmp_path / "drawn" / "clip.mp4"))
    frames = []
    ok, frame = capture.read()
    while ok:
        frames.append(frame)
        ok, frame = capture.read()
    assert len(frames) == 4 and all(f.shape == (192, 192, 3) and f.std() > 10 for f in frames)
