"""
Draw a trained model's predictions on images (files, folders or globs) or videos (.mp4, .avi,
.mov, .mkv: written as .mp4), as detectron2's demo:

    python tools/demo.py --config-file configs/mask_rcnn_R50_NL.yaml --input images/ \
        --output predictions/ MODEL.WEIGHTS model_final.pth
    python tools/demo.py --exported exported/model.onnx --input images/ --output predictions/
"""

import argparse
import logging

import tqdm

from detectron2.utils.logger import setup_logger

from ..config import load_any_config
from ..engine import config_arguments, register_datasets
from ..engine.predictor import expand_inputs, set_confidence_threshold
from ..visualization.predictions import (
    ExportedVisualizer,
    PredictionVisualizer,
    draw_predictions,
)


def get_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], parents=[config_arguments(config_required=False)]
    )
    parser.add_argument(
        "--exported",
        metavar="FILE",
        help="a model.ts or model.onnx of tools/export_model.py, run without the config (its "
        "model.json beside it) instead of --config-file",
    )
    parser.add_argument(
        "--input", nargs="+", required=True, help="image or video files, folders of images, globs"
    )
    parser.add_argument("--output", required=True, help="folder for the drawn predictions")
    parser.add_argument("--confidence-threshold", type=float, default=0.5)
    parser.add_argument("--json-output", help="also write the predictions as COCO results JSON")
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    setup_logger(name="nl_detectron")
    logger = setup_logger()
    register_datasets(args)
    if args.exported:
        visualize = ExportedVisualizer(
            args.exported, confidence_threshold=args.confidence_threshold
        )
    elif args.config_file:
        cfg = load_any_config(args.config_file, args.opts)
        set_confidence_threshold(cfg, args.confidence_threshold)
        visualize = PredictionVisualizer(cfg, allow_unsafe_checkpoint=args.allow_unsafe_checkpoint)
    else:
        get_parser().error("give --config-file, or --exported")
    paths = expand_inputs(args.input)
    written, skipped = draw_predictions(
        visualize, paths, args.output, progress=tqdm.tqdm, json_output=args.json_output
    )
    logger.info(f"Wrote {len(written)} files to {args.output}; skipped {len(skipped)} inputs")
    return 1 if skipped and not written else 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    raise SystemExit(main())
