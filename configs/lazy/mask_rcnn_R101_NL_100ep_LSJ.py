"""mask_rcnn_R50_NL_100ep_LSJ.py with ResNet-101: the NL twin of detectron2's
new_baselines/mask_rcnn_R_101_FPN_100ep_LSJ.py, which differs from its R50 recipe in depth only."""

from .mask_rcnn_R50_NL_100ep_LSJ import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.resnet.stages.depth = 101

__all__ = ["dataloader", "lr_multiplier", "model", "optimizer", "train"]
