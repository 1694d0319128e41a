#!/usr/bin/env python
"""
Where each block's object queries look, per checkpoint: for every object of the first validation
images, the query at its box centre puts a share of its attention on its related object (the
lookup task's key of its shape, the partner task's partner, the cue of the near and far tasks)
and on its own box, each against what uniform weights would put there (x uniform: 1 is no
preference); the query distance among the objects' queries of an image (0: one map for every
object), and GCNet's query distance over all positions:

    python benchmarks/object_attention.py \
        --config-file configs/demo/faster_rcnn_R18_NL_lookup.yaml \
        --weights "output/lookup_ins/nl_t1/seed*/model_final.pth" --dataset nl_lookup_shapes_val

Several checkpoints (seeds) give the mean and its 95% interval (t) over them.
"""

import argparse
import glob
import json
import math
import statistics

import torch
from relation_attention import cue_side  # benchmarks/, the script's folder

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.structures import BoxMode

from nl_detectron.analysis import BlockCapture
from nl_detectron.analysis.attention_stats import block_statistics
from nl_detectron.analysis.object_attention import object_attention
from nl_detectron.config import load_config
from nl_detectron.data.lookup_shapes import lookup_of
from nl_detectron.data.relation_shapes import CUE_WIDTH
from nl_detectron.engine.predictor import build_predictor
from nl_detectron.twins.stats import t_quantile_975

COLUMNS = ("related", "own", "object_distance", "query_distance")


def _xyxy(annotation):
    return BoxMode.convert(annotation["bbox"], annotation["bbox_mode"], BoxMode.XYXY_ABS)


def _lookup_related(dataset_name):
    """(dataset dict, image) -> each query's key box, from the JSON's ``keys`` (in the order of
    the identities; a dataset dict's category, from 0, is identity * labels + label)."""
    labels = len(lookup_of(dataset_name).labels)
    with open(MetadataCatalog.get(dataset_name).json_file) as f:
        keys = {entry["id"]: entry["keys"] for entry in json.load(f)["images"]}

    def related(d, image):
        boxes = []
        for a in d["annotations"]:
            x, y, w, h = keys[d["image_id"]][a["category_id"] // labels]["bbox"]
            boxes.append([x, y, x + w, y + h])
        return boxes

    return related


def _partner_related(dataset_name):
    """Partners come in consecutive annotations: (0, 1), (2, 3)."""
    return lambda d, image: [_xyxy(d["annotations"][i ^ 1]) for i in range(len(d["annotations"]))]


def _cue_related(dataset_name):
    """The cue: the end whose columns are one saturated colour."""

    def related(d, image):
        h, w = image.shape[:2]
        box = [0, 0, CUE_WIDTH, h] if cue_side(image) == "left" else [w - CUE_WIDTH, 0, w, h]
        return [box] * len(d["annotations"])

    return related


# dataset name prefix -> (dataset name -> (dataset dict, BGR image) -> related box per object)
RELATED = {
    "nl_lookup_": _lookup_related,
    "nl_partner_shapes": _partner_related,
    "nl_relation_": _cue_related,
}


def related_boxes(dataset_name):
    """The related-box function of ``dataset_name``, or None (no related object: the demos)."""
    for prefix, make in RELATED.items():
        if dataset_name.startswith(prefix):
            return make(dataset_name)
    return None


@torch.no_grad()
def measure(predictor, dataset, related):
    """
    Returns:
        {block name: {column: mean}} over the objects (``related`` and ``own`` as ratios to
        uniform, of the summed shares) and images (the distances) of ``dataset``.
    """
    capture = BlockCapture(predictor.model, prefix="backbone.")
    sums = {
        name: {k: [] for k in ("related", "related_u", "own", "own_u", "obj", "all")}
        for name in capture.blocks
    }
    for d in dataset:
        image = read_image(d["file_name"], format="BGR")
        predictor(image)
        scale = predictor.aug.get_transform(image).apply_image(image).shape[1] / image.shape[1]
        boxes = [[v * scale for v in _xyxy(a)] for a in d["annotations"]]
        others = related(d, image) if related else [None] * len(boxes)
        others = [None if o is None else [v * scale for v in o] for o in others]
        for name, block in capture.blocks.items():
            x, output = capture.calls[name]
            rows, distance = object_attention(
                block, x, capture.input_size, list(zip(boxes, others))
            )
            s = sums[name]
            for row in rows:
                s["own"].append(row["own"])
                s["own_u"].append(row["own_uniform"])
                if row["related"] is not None:
                    s["related"].append(row["related"])
                    s["related_u"].append(row["related_uniform"])
            if not math.isnan(distance):
                s["obj"].append(distance)
            s["all"].append(block_statistics(block, x, output)[0]["attention_distance"])
    capture.remove()

    return {name: _summary(s) for name, s in sums.items()}


def _summary(sums):
    """One block's means: the summed shares over the summed uniform shares, mean distances."""

    def ratio(share, uniform):
        return sum(sums[share]) / sum(sums[uniform]) if sum(sums[uniform]) else None

    def mean(key):
        return statistics.fmean(sums[key]) if sums[key] else None

    return {
        "related": ratio("related", "related_u"),
        "own": ratio("own", "own_u"),
        "object_distance": mean("obj"),
        "query_distance": mean("all"),
    }


def _fmt(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    mean = statistics.fmean(values)
    half = t_quantile_975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return f"{mean:.2f} [{mean - half:.2f}, {mean + half:.2f}]"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", nargs="+", required=True, help="checkpoints (globs too)")
    parser.add_argument("--dataset", required=True, help="a registered validation split")
    parser.add_argument("--images", type=int, default=50, help="the first N images (default 50)")
    parser.add_argument("--opts", nargs="*", default=[], help="config overrides, KEY VALUE ...")
    parser.add_argument("--json", help="also write the per-checkpoint numbers here")
    args = parser.parse_args(argv)
    paths = sorted(p for pattern in args.weights for p in glob.glob(pattern))
    if not paths:
        parser.error(f"no checkpoint matches {args.weights}")
    dataset = DatasetCatalog.get(args.dataset)[: args.images]
    related = related_boxes(args.dataset)
    per_checkpoint = {}
    for path in paths:
        predictor = build_predictor(
            load_config(args.config_file, [*args.opts, "MODEL.WEIGHTS", path])
        )
        per_checkpoint[path] = measure(predictor, dataset, related)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(per_checkpoint, f, indent=1)
    print(
        "| block | checkpoints | on the related object, x uniform | on its own box, x uniform "
        "| object query distance | query distance (all positions) |"
    )
    print("|---|---|---|---|---|---|")
    for name in next(iter(per_checkpoint.values())):
        cells = [_fmt([m[name][c] for m in per_checkpoint.values()]) for c in COLUMNS]
        print(f"| {name} | {len(paths)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
