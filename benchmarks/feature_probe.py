#!/usr/bin/env python
"""
Do the features around a backbone block separate what its task needs? For every object of the
first validation images, the block's input and output are averaged inside the object's box (1x1
RoIAlign), and a linear probe (``analysis.probe``), fit on half of the objects, tells the other
half's shape (on a lookup task: what it shares with its key) and label:

    python benchmarks/feature_probe.py --config-file configs/demo/faster_rcnn_R18_NL_partner.yaml \
        --weights "output/partner_diag/gn_s1/seed1/model_*.pth" --dataset nl_partner_shapes_val

On a relational task the label's colour is not at the object: a probe that tells it from the
block's output and not from its input shows the block bringing it in.
"""

import argparse
import glob

import torch
from torchvision.ops import roi_align

from detectron2.data import DatasetCatalog
from detectron2.data.detection_utils import read_image
from detectron2.structures import BoxMode

from nl_detectron.analysis import BlockCapture
from nl_detectron.analysis.probe import linear_probe
from nl_detectron.config import load_config
from nl_detectron.data.lookup_shapes import lookup_of
from nl_detectron.data.synthetic import SHAPES
from nl_detectron.engine.predictor import build_predictor

# a polygon's number of vertices -> its shape's index in SHAPES (synthetic.shape_polygon)
VERTICES = {32: SHAPES.index("circle"), 4: SHAPES.index("square"), 3: SHAPES.index("triangle")}


def targets(dataset_name, annotation):
    """(identity, label) of one object of a dataset dict (contiguous category ids from 0): a
    lookup task's category holds both (the identity its shape or hue); the other relational
    tasks' category is the label, their polygon the shape."""
    category = annotation["category_id"]
    lookup = lookup_of(dataset_name)
    if lookup is not None:
        return divmod(category, len(lookup.labels))
    return VERTICES[len(annotation["segmentation"][0]) // 2], category


@torch.no_grad()
def pooled_features(predictor, dataset, block_name=None):
    """(block input features (M, C), block output features (M, C), shapes (M,), labels (M,))
    over the objects of ``dataset``."""
    names = None if block_name is None else [block_name]
    capture = BlockCapture(predictor.model, prefix="backbone.", names=names)
    name = block_name or next(iter(capture.blocks))
    inputs, outputs, shapes, labels = [], [], [], []
    for d in dataset:
        image = read_image(d["file_name"], format="BGR")
        predictor(image)
        x, output = capture.calls[name]
        scale = predictor.aug.get_transform(image).apply_image(image).shape[1] / image.shape[1]
        boxes = [
            [0.0]
            + [v * scale for v in BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS)]
            for a in d["annotations"]
        ]
        if not boxes:
            continue
        stride = capture.input_size[1] / x.shape[-1]
        rois = torch.tensor(boxes, dtype=x.dtype)
        for features, out in ((x, inputs), (output, outputs)):
            pooled = roi_align(features, rois, (1, 1), 1 / stride, sampling_ratio=2, aligned=True)
            out.append(pooled.flatten(1))
        for a in d["annotations"]:
            shape, label = targets(d["dataset_name"], a)
            shapes.append(shape)
            labels.append(label)
    capture.remove()
    return torch.cat(inputs), torch.cat(outputs), torch.tensor(shapes), torch.tensor(labels)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", nargs="+", required=True, help="checkpoints (globs too)")
    parser.add_argument("--dataset", required=True, help="a registered validation split")
    parser.add_argument("--images", type=int, default=200, help="the first N images (default 200)")
    parser.add_argument("--block", help="the backbone block (default: its first)")
    parser.add_argument("--opts", nargs="*", default=[], help="config overrides, KEY VALUE ...")
    args = parser.parse_args(argv)
    paths = sorted(p for pattern in args.weights for p in glob.glob(pattern))
    if not paths:
        parser.error(f"no checkpoint matches {args.weights}")
    dataset = [
        {**d, "dataset_name": args.dataset} for d in DatasetCatalog.get(args.dataset)[: args.images]
    ]
    print(
        "| checkpoint | objects | shape (a lookup's: its identity), from the block's input "
        "(majority) | label, from its "
        "input | label, from its output (majority) |"
    )
    print("|---|---|---|---|---|")
    for path in paths:
        cfg = load_config(args.config_file, [*args.opts, "MODEL.WEIGHTS", path])
        x, z, shapes, labels = pooled_features(build_predictor(cfg), dataset, args.block)
        shape, shape_majority = linear_probe(x, shapes)
        label_in, label_majority = linear_probe(x, labels)
        label_out, _ = linear_probe(z, labels)
        print(
            f"| {path} | {len(labels)} | {100 * shape:.1f} ({100 * shape_majority:.1f}) | "
            f"{100 * label_in:.1f} | {100 * label_out:.1f} ({100 * label_majority:.1f}) |"
        )


if __name__ == "__main__":
    main()
