#!/usr/bin/env python
"""
Does a trained NL block on the relational task (``nl_relation_shapes``) look at the cue? For
every object of the validation images, the query at its box centre: the share of the block's
attention on the key cells that lie inside the cue (the coloured stripe that sets the object's
label), against the share uniform weights would put there. One row per model:

    python benchmarks/relation_attention.py \
        --config-file configs/demo/faster_rcnn_R18_NL_relation.yaml \
        --weights "output/exp/relation/official/seed*/model_final.pth"

A ratio of 1 is no preference for the cue; the cue is at least half the image away from every
query.
"""

import argparse
import glob
import statistics

import numpy as np
import torch

from detectron2.data import DatasetCatalog
from detectron2.data.detection_utils import read_image

from nl_detectron.analysis import BlockCapture
from nl_detectron.config import load_config
from nl_detectron.data.relation_shapes import CUE_WIDTH
from nl_detectron.engine.predictor import build_predictor


def cue_side(image_bgr):
    """'left' or 'right': the end whose stripe is one saturated colour."""
    left, right = image_bgr[:, :CUE_WIDTH], image_bgr[:, -CUE_WIDTH:]
    spread = [np.ptp(side.reshape(-1, 3).mean(0)) for side in (left, right)]
    return "left" if spread[0] > spread[1] else "right"


@torch.no_grad()
def cue_attention(predictor, dataset):
    """
    Returns:
        (mean share of attention on the cue's key cells, mean share uniform weights give them),
        over every object's centre query of ``dataset`` (detectron2 dataset dicts).
    """
    capture = BlockCapture(predictor.model, prefix="backbone.")
    name, block = next(iter(capture.blocks.items()))
    shares, uniform = [], []
    for d in dataset:
        image = read_image(d["file_name"], format="BGR")
        predictor(image)
        x = capture.calls[name][0]
        h, w = x.shape[-2:]
        kh, kw = block.key_grid(h, w)
        resized_w = predictor.aug.get_transform(image).apply_image(image).shape[1]
        pixel = resized_w / image.shape[1]  # resized pixels per image pixel
        stride = capture.input_size[1] / w  # resized pixels per query cell
        key_width = stride * (w // kw)
        columns = np.arange(kw)
        if cue_side(image) == "left":
            inside = (columns + 1) * key_width <= CUE_WIDTH * pixel + 1e-6
        else:
            inside = columns * key_width >= (image.shape[1] - CUE_WIDTH) * pixel - 1e-6
        if not inside.any():
            raise ValueError(f"no key cell lies inside the cue ({kw} key columns of {key_width})")
        cells = [
            (
                min(int((y0 + bh / 2) * pixel // stride), h - 1),
                min(int((x0 + bw / 2) * pixel // stride), w - 1),
            )
            for x0, y0, bw, bh in (a["bbox"] for a in d["annotations"])
        ]
        if cells:
            weights = block.attention(x).map(cells)[0]  # (objects, kh, kw)
            shares += weights[:, :, torch.as_tensor(inside)].sum(dim=(1, 2)).tolist()
            uniform += [inside.sum() / kw] * len(cells)
    return statistics.fmean(shares), statistics.fmean(uniform)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", nargs="+", required=True, help="checkpoints (globs too)")
    parser.add_argument("--dataset", default="nl_relation_shapes_val")
    args = parser.parse_args(argv)
    paths = sorted(p for pattern in args.weights for p in glob.glob(pattern))
    if not paths:
        parser.error(f"no checkpoint matches {args.weights}")
    dataset = DatasetCatalog.get(args.dataset)
    print("| checkpoint | attention on the cue | uniform share | ratio |")
    print("|---|---|---|---|")
    ratios = []
    for path in paths:
        predictor = build_predictor(load_config(args.config_file, ["MODEL.WEIGHTS", path]))
        share, uniform = cue_attention(predictor, dataset)
        ratios.append(share / uniform)
        print(f"| {path} | {share:.3f} | {uniform:.3f} | {share / uniform:.2f} |")
    if len(ratios) > 1:
        mean, sd = statistics.fmean(ratios), statistics.stdev(ratios)
        print(f"\nratio over the {len(ratios)} checkpoints: {mean:.2f} ± {sd:.2f}")


if __name__ == "__main__":
    main()
