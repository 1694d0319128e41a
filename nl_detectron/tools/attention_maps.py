"""
Draw where a non-local block attends, for query points of an image (default: the centres of the
top detections): one PNG per query, upscaled to at least 512 pixels with the block's cells outlined
and a colour bar, and all queries side by side in one panel PNG:

    python tools/attention_maps.py --config-file configs/mask_rcnn_R50_NL.yaml --input img.jpg \
        --output attention/ --query 320 240 --query 100 50 MODEL.WEIGHTS model_final.pth

With --html, it writes instead one self-contained HTML viewer of the image (IMAGE_attention.html):
click any point to see its attention in every NL block, backbone and keypoint head, with each
block's statistics (docs/attention.md):

    python tools/attention_maps.py --config-file configs/mask_rcnn_R50_NL.yaml --input img.jpg \
        --output attention/ --html MODEL.WEIGHTS model_final.pth
"""

import argparse
import os
import sys

import cv2

from detectron2.data.detection_utils import read_image
from detectron2.utils.logger import setup_logger

from ..analysis import BlockCapture
from ..config import is_lazy, load_any_config
from ..engine import config_arguments, register_datasets
from ..engine.predictor import build_predictor
from ..visualization.attention import (
    AttentionMapper,
    NoDetectionError,
    attention_panel,
    draw_attention,
)
from ..visualization.predictions import PredictionVisualizer
from ..visualization.viewer import viewer_data, write_viewer


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], parents=[config_arguments()]
    )
    parser.add_argument("--input", required=True, help="an image file")
    parser.add_argument("--output", required=True, help="folder for the PNGs")
    parser.add_argument("--block", help="NL block name (default: the backbone's first)")
    parser.add_argument(
        "--query",
        nargs=2,
        type=float,
        action="append",
        metavar=("X", "Y"),
        help="a query pixel (repeatable); default: top detections' centres",
    )
    parser.add_argument("--top-k", type=int, default=3, help="queries from this many detections")
    parser.add_argument(
        "--html",
        action="store_true",
        help="write a self-contained HTML viewer of the image (every block; click a point) "
        "instead of PNGs",
    )
    parser.add_argument(
        "--query-stride",
        type=int,
        default=1,
        help="--html: keep one query cell in this many per side (caps the file size; default 1)",
    )
    args = parser.parse_args(argv)
    if args.query_stride < 1:
        parser.error(f"--query-stride must be 1 or more, got {args.query_stride}")
    logger = setup_logger(name="nl_detectron")
    register_datasets(args)
    cfg = load_any_config(args.config_file, args.opts)
    if not is_lazy(cfg):
        cfg.freeze()
    if args.html:
        return write_html(cfg, args, logger)
    predictor = build_predictor(cfg, allow_unsafe_checkpoint=args.allow_unsafe_checkpoint)
    mapper = AttentionMapper(predictor, args.block)
    image = read_image(args.input, format="BGR")
    try:
        queries, heat, _ = mapper(image, args.query, args.top_k)
    except NoDetectionError as e:
        print(f"{args.input}: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.output, exist_ok=True)
    stem = os.path.splitext(os.path.basename(args.input))[0]
    pictures = []
    for (x, y), h in zip(queries, heat):
        pictures.append(draw_attention(image, h, (x, y), grid_lines=mapper.grid_lines))
        path = os.path.join(args.output, f"{stem}_{mapper.block_name}_x{x:.0f}_y{y:.0f}.png")
        cv2.imwrite(path, pictures[-1])
        logger.info(f"Wrote {path}")
    path = os.path.join(args.output, f"{stem}_{mapper.block_name}_panel.png")
    cv2.imwrite(path, attention_panel(pictures))
    logger.info(f"Wrote {path} (every query side by side)")
    return 0


def write_html(cfg, args, logger):
    visualizer = PredictionVisualizer(cfg, allow_unsafe_checkpoint=args.allow_unsafe_checkpoint)
    capture = BlockCapture(visualizer.predictor.model)
    image = read_image(args.input, format="BGR")
    predictions, drawn = visualizer.draw(image)
    data = viewer_data(visualizer.predictor, image, drawn, capture, query_stride=args.query_stride)
    os.makedirs(args.output, exist_ok=True)
    stem = os.path.splitext(os.path.basename(args.input))[0]
    path = os.path.join(args.output, f"{stem}_attention.html")
    size = write_viewer(path, data, f"NL attention: {os.path.basename(args.input)}")
    logger.info(
        f"Wrote {path} ({size / 2**20:.2f} MiB; {len(data['blocks'])} blocks, "
        f"{len(predictions['instances'])} detections): open it in a browser"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
