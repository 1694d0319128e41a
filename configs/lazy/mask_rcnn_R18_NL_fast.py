"""
The fast CPU demo as a Python config: configs/demo/mask_rcnn_R18_NL_fast.yaml (NL Mask R-CNN
R18-FPN from scratch on the shapes at 96 pixels, 400 iterations, evaluated on the 400 images of
nl_demo_shapes_val_large), built on the Python demo mask_rcnn_R50_NL_shapes.py. Like that one it
has no gradient clipping, which detectron2's Python recipes do not configure.

    python tools/lazyconfig_train_net.py --config-file configs/lazy/mask_rcnn_R18_NL_fast.py
"""

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec

# Everything the tool reads, optimizer included, from the Python demo.
from .mask_rcnn_R50_NL_shapes import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

# Model: R18 (BasicBlock, which takes no stride_in_1x1) and the YAML fast demo's head sizes.
_stages = model.backbone.bottom_up.resnet.stages
_stages.depth = 18
del _stages.stride_in_1x1
model.backbone.out_channels = 64
model.proposal_generator.head.in_channels = 64
model.proposal_generator.post_nms_topk = (128, 50)
model.roi_heads.batch_size_per_image = 32
model.roi_heads.box_head.input_shape = ShapeSpec(channels=64, height=7, width=7)
model.roi_heads.box_head.fc_dims = [128, 128]
model.roi_heads.box_predictor.input_shape = ShapeSpec(channels=128)
model.roi_heads.mask_head.input_shape = ShapeSpec(channels=64, height=14, width=14)
model.roi_heads.mask_head.conv_dims = [64, 64, 64]

# Data: 96 pixels; the large validation split.
dataloader.train.mapper.augmentations = [
    L(T.ResizeShortestEdge)(short_edge_length=(96,), sample_style="choice", max_size=96),
    L(T.RandomFlip)(horizontal=True),
]
dataloader.test.dataset.names = "nl_demo_shapes_val_large"
dataloader.test.mapper.augmentations = [L(T.ResizeShortestEdge)(short_edge_length=96, max_size=96)]

# Schedule: the YAML fast demo's.
train.max_iter = 400
lr_multiplier.scheduler.milestones = [300]
lr_multiplier.scheduler.num_updates = train.max_iter
lr_multiplier.warmup_length = 50 / train.max_iter
train.checkpointer.period = 200
train.eval_period = train.max_iter
train.output_dir = "output/lazy_demo_fast"
