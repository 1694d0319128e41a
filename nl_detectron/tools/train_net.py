"""
Train or evaluate an nl_detectron model, as detectron2's tools/train_net.py:

    python tools/train_net.py --config-file configs/mask_rcnn_R50_NL.yaml --num-gpus 8
    python tools/train_net.py --config-file configs/mask_rcnn_R50_NL.yaml --eval-only \
        MODEL.WEIGHTS /path/to/model_final.pth
"""

from ..engine import main as train_main
from ..engine import training_command


def main(argv=None):
    return training_command(train_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
