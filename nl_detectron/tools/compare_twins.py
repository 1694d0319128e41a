"""
Train an NL config and its baseline twin (the same config with detectron2's own backbone and
keypoint head) with identical settings, over several seeds, and compare them in one table:

    python tools/compare_twins.py --config-file configs/demo/mask_rcnn_R50_NL_shapes.yaml \
        --seeds 1 2 --output output/twins_mask
    python tools/compare_twins.py --config-file configs/mask_rcnn_R50_NL.yaml --num-gpus 8 \
        --seeds 1 2 3 --output output/twins_coco
    python tools/compare_twins.py --config-file configs/lazy/mask_rcnn_R50_NL_shapes.py \
        --seeds 1 2 --output output/twins_lazy

    python tools/compare_twins.py --config-file configs/demo/mask_rcnn_R50_NL_shapes.yaml \
        --seeds 1 2 3 4 --output output/ablation --variant official "" \
        --variant mmcv_order "MODEL.NONLOCAL.SUB_SAMPLE_AT embedding" \
        --variant no_scale "MODEL.NONLOCAL.USE_SCALE False"

Writes OUTPUT/twins.md (AP per task, s/iter, peak memory: mean ± spread; each variant minus the
baseline: mean of the per-seed differences, 95% CI, resolved or not, the smallest resolvable
difference; params and FLOPs), twins.json, curves.png, and each run under OUTPUT/{name}/seed{S}.
Runs already there from the same config are reused.
"""

import argparse

from detectron2.utils.logger import setup_logger

from ..config import load_any_config
from ..engine import config_arguments, register_datasets
from ..twins import compare_twins, parse_variants


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
    parser.add_argument(
        "--variant",
        nargs=2,
        action="append",
        metavar=("NAME", "OVERRIDES"),
        help="a named set of overrides of the NL config, compared with the baseline (repeatable; "
        '"" for the config as it is); default: one variant "NL", the config as it is',
    )
    parser.add_argument("--num-gpus", type=int, default=1, help="processes per training")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue each run from its last checkpoint (a finished run is only evaluated "
        "again); without it, finished runs are reused as they are",
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
    try:
        variants = parse_variants(args.variant)
    except ValueError as e:
        parser.error(str(e))
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
        variants=variants,
        train_args=train_args,
        size=args.size,
    )
    print(table)
    print(f"Wrote {args.output}/twins.md, twins.json and curves.png")


if __name__ == "__main__":
    main()
