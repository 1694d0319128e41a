"""
Export a trained model to TorchScript or ONNX by tracing, as detectron2's
tools/deploy/export_model.py, writing the model file and model.json (what a runtime needs):

    python tools/export_model.py --config-file configs/demo/mask_rcnn_R50_NL_shapes.yaml \
        --format onnx --sample-image datasets/nl_demo_shapes/val/0001.png \
        --output output/exported MODEL.WEIGHTS output/demo/model_final.pth

Run the result without nl_detectron's model code: ``nl_deploy.ExportedModel``, or
``tools/demo.py --exported output/exported/model.onnx --input ... --output ...``.
"""

import argparse
import sys

from detectron2.utils.logger import setup_logger

from ..config import cpu_overrides, load_any_config
from ..engine import config_arguments, register_datasets
from ..export import FORMATS, METHODS, ExportError, export_model


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], parents=[config_arguments()]
    )
    parser.add_argument("--format", choices=FORMATS, default="torchscript")
    parser.add_argument("--export-method", choices=METHODS, default="tracing")
    parser.add_argument("--sample-image", required=True, help="an image to trace the model on")
    parser.add_argument("--output", required=True, help="folder for the model file and JSON")
    args = parser.parse_args(argv)
    logger = setup_logger(name="nl_detectron")
    register_datasets(args)
    cfg = load_any_config(args.config_file, [*cpu_overrides(args.config_file), *args.opts])
    try:
        path, meta = export_model(
            cfg,
            args.format,
            args.sample_image,
            args.output,
            allow_unsafe_checkpoint=args.allow_unsafe_checkpoint,
        )
    except ExportError as e:
        print(f"{args.config_file}: cannot export to {args.format}: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the sample image (read_image names the file)
        print(f"--sample-image: {e}", file=sys.stderr)
        return 2
    logger.info(f"Wrote {path} and {meta}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
