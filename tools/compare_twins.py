#!/usr/bin/env python
"""
Train an NL config and its baseline twin (the same config with detectron2's own backbone and
keypoint head) with identical settings, over several seeds, and compare them in one table:

    python tools/compare_twins.py --config-file configs/demo/mask_rcnn_R50_NL_shapes.yaml \
        --seeds 1 2 --output output/twins_mask
    python tools/compare_twins.py --config-file configs/mask_rcnn_R50_NL.yaml --num-gpus 8 \
        --seeds 1 2 3 --output output/twins_coco
    python tools/compare_twins.py --config-file configs/lazy/mask_rcnn_R50_NL_shapes.py \
        --seeds 1 2 --output output/twins_lazy

Writes OUTPUT/twins.md (AP per task, s/iter, peak memory, params, FLOPs: mean ± spread, NL minus
baseline), twins.json, curves.png, and each run under OUTPUT/{baseline,NL}/seed{S}.
"""

import argparse

from detectron2.utils.logger import setup_logger

from nl_detectron.config import load_any_config
from nl_detectron.engine import config_arguments, register_datasets
from nl_detectron.twins import compare_twins


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], parents=[config_arguments()]
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[1, 2],
        help="one training of each twin per seed (default: 1 2)",
    )
    parser.add_argument("--output", default="output/twins", help="folder for runs and tables")
    parser.add_argument("--num-gpus", type=int, default=1, help="processes per training")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue each run from its last checkpoint (a finished run is only evaluated again)",
    )
    parser.add_argument(
        "--size",
        nargs=2,
        type=int,
        metavar=("H", "W"),
        help="image size for the FLOP count (default: the config's test size)",
    )
    args = parser.parse_args(argv)
    setup_logger(name="nl_detectron")
    register_datasets(args)
    cfg = load_any_config(args.config_file, args.opts)
    train_args = ["--num-gpus", str(args.num_gpus)]
    for dataset in args.dataset:
        train_args += ["--dataset", *dataset]
    if args.resume:
        train_args.append("--resume")
    if args.allow_unsafe_checkpoint:
        train_args.append("--allow-unsafe-checkpoint")
    table = compare_twins(
        cfg,
        args.output,
        args.seeds,
        config_file=args.config_file,
        opts=args.opts,
        train_args=train_args,
        size=args.size,
    )
    print(table)
    print(f"Wrote {args.output}/twins.md, twins.json and curves.png")


if __name__ == "__main__":
    main()
