#!/usr/bin/env python
"""
CPU latency of one image through the NL Mask R-CNN R50-FPN: eager (nl_detectron's predictor)
against the model exported by tools/export_model.py, run by nl_deploy with TorchScript and with
ONNX Runtime. Each time covers the whole call: resize, model, post-processing (masks pasted).

    python benchmarks/bench_deploy.py               # the demo model (192 px) and COCO's (800x1216)
    python benchmarks/bench_deploy.py --repeats 10 --models demo

Random weights (seed 0) with every detection kept (ROI_HEADS.SCORE_THRESH_TEST 0), so that the
mask head runs on the full TEST.DETECTIONS_PER_IMAGE. Median of --repeats runs after one warm-up.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import cv2
import numpy as np
import torch

from detectron2.modeling import build_model

from nl_deploy import ExportedModel
from nl_detectron.config import load_config
from nl_detectron.engine.predictor import build_predictor
from nl_detectron.export import export_model

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    # name: (config, image height, image width)
    "demo": ("configs/demo/mask_rcnn_R50_NL_shapes.yaml", 192, 192),
    "coco": ("configs/mask_rcnn_R50_NL.yaml", 800, 1216),
}


def median_ms(fn, image, repeats):
    fn(image)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(image)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def bench(name, folder, repeats):
    config, height, width = MODELS[name]
    torch.manual_seed(0)
    opts = ["MODEL.DEVICE", "cpu", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"]
    cfg = load_config(os.path.join(REPO_ROOT, config), opts)
    weights = os.path.join(folder, f"{name}.pth")
    torch.save({"model": build_model(cfg).state_dict()}, weights)
    cfg = load_config(os.path.join(REPO_ROOT, config), [*opts, "MODEL.WEIGHTS", weights])
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    sample = os.path.join(folder, f"{name}.png")
    cv2.imwrite(sample, image)
    predictor = build_predictor(cfg)
    with torch.no_grad():
        row = {"eager": median_ms(predictor, image, repeats)}
    for fmt, label in (("torchscript", "TorchScript"), ("onnx", "ONNX Runtime")):
        path, _ = export_model(cfg, fmt, sample, os.path.join(folder, f"{name}_{fmt}"))
        row[label] = median_ms(ExportedModel(path), image, repeats)
    return f"{name} ({os.path.basename(config)})", f"{height}x{width}", row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; ms per image, "
          f"median of {args.repeats}", file=sys.stderr)  # fmt: skip
    print("| model | image | eager | TorchScript | ONNX Runtime |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            model, size, row = bench(name, folder, args.repeats)
            cells = " | ".join(f"{row[k]:,.0f}" for k in ("eager", "TorchScript", "ONNX Runtime"))
            print(f"| {model} | {size} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
