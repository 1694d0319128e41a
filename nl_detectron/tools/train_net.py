"""
Train or evaluate an nl_detectron model, as detectron2's tools/train_net.py:

    python tools/train_net.py --config-file configs/mask_rcnn_R50_NL.yaml --num-gpus 8
    python tools/train_net.py --config-file configs/mask_rcnn_R50_NL.yaml --eval-only \
        MODEL.WEIGHTS /path/to/model_final.pth
"""

from ..engine import argument_parser, exit_if_datasets_missing, launch_from_args
from ..engine import main as train_main


def main(argv=None):
    args = argument_parser().parse_args(argv)
    print("Command Line Args:", args)
    exit_if_datasets_missing(args)
    launch_from_args(train_main, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
