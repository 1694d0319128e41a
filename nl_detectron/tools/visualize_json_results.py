"""
Draw the predictions of a COCO results JSON (e.g. output/inference/coco_instances_results.json)
next to the ground truth of a registered dataset, one PNG per image:

    python tools/visualize_json_results.py --input output/inference/coco_instances_results.json \
        --dataset-name nl_demo_shapes_val --output output/json_vis
"""

import argparse

from detectron2.utils.logger import setup_logger

from ..engine.defaults import add_dataset_argument, register_datasets
from ..visualization.json_results import draw_json_results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="COCO results JSON")
    parser.add_argument(
        "--dataset-name", required=True, help="registered dataset the results are for"
    )
    parser.add_argument("--output", required=True, help="folder for the PNGs")
    parser.add_argument("--conf-threshold", type=float, default=0.5)
    parser.add_argument("--limit", type=int, help="draw only the first N images")
    add_dataset_argument(parser)
    args = parser.parse_args(argv)
    logger = setup_logger(name="nl_detectron")
    register_datasets(args)
    written = draw_json_results(
        args.dataset_name, args.input, args.output, args.conf_threshold, args.limit
    )
    logger.info(f"Wrote {len(written)} pictures to {args.output}")


if __name__ == "__main__":
    main()
