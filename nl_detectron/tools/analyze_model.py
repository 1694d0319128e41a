"""
Parameters and inference FLOPs (fvcore multiply-adds) of a config's model and of its baseline twin
(the same config without NL blocks), side by side:

    python tools/analyze_model.py --config-file configs/mask_rcnn_R50_NL.yaml
    python tools/analyze_model.py --config-file configs/keypoint_rcnn_R50_NL_head.yaml \
        --size 800 1216
    python tools/analyze_model.py --config-file configs/lazy/mask_rcnn_R50_NL_100ep_LSJ.py \
        --size 1024 1024
"""

import argparse

from detectron2.utils.logger import setup_logger

from ..config import cpu_overrides, load_any_config
from ..engine import config_arguments, register_datasets
from ..twins import compare_with_baseline


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], parents=[config_arguments(checkpoint=False)]
    )
    parser.add_argument(
        "--size",
        nargs=2,
        type=int,
        default=[800, 1216],
        metavar=("H", "W"),
        help="input image size (default: 800 1216, a COCO test image)",
    )
    args = parser.parse_args(argv)
    setup_logger(name="nl_detectron")
    register_datasets(args)
    cfg = load_any_config(args.config_file, [*cpu_overrides(args.config_file), *args.opts])
    results = compare_with_baseline(cfg, *args.size)
    base = results["baseline"]
    print(f"{args.config_file}, one {args.size[0]}x{args.size[1]} image, random weights")
    print("| model | params (M) | backbone GMACs | total GMACs | NL GMACs | NL share of total |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['params'] / 1e6:.2f} | {r['backbone_flops'] / 1e9:.1f} | "
            f"{r['flops'] / 1e9:.1f} | {r['nl_flops'] / 1e9:.2f} | "
            f"{100 * r['nl_flops'] / base['flops']:.1f}% |"
        )


if __name__ == "__main__":
    main()
