"""
GCNet's attention statistics of every NL block of a trained model (backbone and keypoint head),
over images: is the attention the same map for every query?

    python tools/attention_stats.py --config-file configs/demo/mask_rcnn_R50_NL_shapes.yaml \
        --input "datasets/nl_demo_shapes/val/*.png" --output output/demo/attention_stats \
        MODEL.WEIGHTS output/demo/model_final.pth

Writes attention_stats.json (per block: the means over the maps, and every map's values),
attention_stats.md (one row per block) and one PNG per block (each statistic's values over the
maps). docs/attention.md says what each statistic is.
"""

import argparse
import json
import os

import tqdm

from detectron2.data.detection_utils import read_image
from detectron2.utils.logger import setup_logger

from ..analysis import AttentionStatistics, statistics_markdown
from ..config import load_any_config
from ..engine import config_arguments, register_datasets
from ..engine.predictor import build_predictor, expand_inputs
from ..visualization.attention import plot_block_statistics


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], parents=[config_arguments()]
    )
    parser.add_argument("--input", nargs="+", required=True, help="images, folders, globs")
    parser.add_argument("--output", required=True, help="folder for the JSON, table and plots")
    parser.add_argument("--max-images", type=int, help="use the first N images only")
    args = parser.parse_args(argv)
    logger = setup_logger(name="nl_detectron")
    register_datasets(args)
    cfg = load_any_config(args.config_file, args.opts)
    predictor = build_predictor(cfg, allow_unsafe_checkpoint=args.allow_unsafe_checkpoint)
    statistics = AttentionStatistics(predictor.model)
    paths = expand_inputs(args.input)[: args.max_images]
    for path in tqdm.tqdm(paths):
        predictor(read_image(path, format="BGR"))
    summary = statistics.summary()
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "attention_stats.json"), "w") as f:
        json.dump({"images": paths, "blocks": summary, "maps": statistics.per_map}, f, indent=1)
    table = statistics_markdown(summary)
    with open(os.path.join(args.output, "attention_stats.md"), "w") as f:
        f.write(f"Attention statistics over {len(paths)} images\n\n{table}")
    for name, maps in statistics.per_map.items():
        plot_block_statistics(name, maps, os.path.join(args.output, f"{name}.png"))
    print(table)
    logger.info(f"Wrote {args.output}/attention_stats.json, .md and one PNG per block")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
