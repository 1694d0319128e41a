"""
Train or evaluate from a Python (LazyConfig) config, as detectron2's tools/lazyconfig_train_net.py
(same arguments; overrides are ``key=value``):

    python tools/lazyconfig_train_net.py --config-file configs/lazy/mask_rcnn_R50_NL_shapes.py
    python tools/lazyconfig_train_net.py --config-file configs/lazy/mask_rcnn_R50_NL_100ep_LSJ.py \
        --num-gpus 8
    python tools/lazyconfig_train_net.py --config-file configs/lazy/mask_rcnn_R50_NL_shapes.py \
        --eval-only train.init_checkpoint=output/lazy_demo/model_final.pth
"""

from ..engine import training_command
from ..engine.lazy import lazy_main


def main(argv=None):
    return training_command(lazy_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
