"""
The CPU demo as a Python config: configs/demo/mask_rcnn_R50_NL_shapes.yaml (NL Mask R-CNN
R50-FPN, from scratch, on the built-in shapes dataset, 192-pixel images, 500 iterations) built
from detectron2's common LazyConfig parts. Unlike the YAML demo it has no gradient clipping,
which detectron2's Python recipes do not configure.

    python tools/lazyconfig_train_net.py --config-file configs/lazy/mask_rcnn_R50_NL_shapes.py
"""

from fvcore.common.param_scheduler import MultiStepParamScheduler

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.model_zoo import get_config
from detectron2.solver import WarmupParamScheduler

from nl_detectron.modeling import nonlocal_resnet
from nl_detectron.utils.compat import has_fast_coco_eval

model = get_config("common/models/mask_rcnn_fpn.py").model
dataloader = get_config("common/data/coco.py").dataloader
optimizer = get_config("common/optim.py").SGD
train = get_config("common/train.py").train

# Model: the YAML demo's sizes. ResNet with BN, trained from its stem on; the NL block as there.
_resnet = model.backbone.bottom_up
_resnet.stem.norm = _resnet.stages.norm = "BN"
_resnet.freeze_at = 0
model.backbone.bottom_up = L(nonlocal_resnet)(resnet=_resnet, after_blocks={"res4": [-2]})
model.backbone.in_features = "${.bottom_up.resnet.out_features}"
model.backbone.out_channels = 128
model.proposal_generator.head.in_channels = 128
model.proposal_generator.batch_size_per_image = 128
model.proposal_generator.pre_nms_topk = (1000, 500)
model.proposal_generator.post_nms_topk = (256, 100)
model.roi_heads.num_classes = 3
model.roi_heads.batch_size_per_image = 64
model.roi_heads.box_head.input_shape = ShapeSpec(channels=128, height=7, width=7)
model.roi_heads.box_head.fc_dims = [256, 256]
model.roi_heads.box_predictor.input_shape = ShapeSpec(channels=256)
model.roi_heads.box_predictor.test_topk_per_image = 20
model.roi_heads.mask_head.input_shape = ShapeSpec(channels=128, height=14, width=14)
model.roi_heads.mask_head.conv_dims = [128, 128, 128]

# Data: the shapes dataset that importing nl_detectron registers, at 192 pixels.
dataloader.train.dataset.names = "nl_demo_shapes_train"
dataloader.train.mapper.augmentations = [
    L(T.ResizeShortestEdge)(short_edge_length=(192,), sample_style="choice", max_size=192),
    L(T.RandomFlip)(horizontal=True),
]
dataloader.train.total_batch_size = 4
dataloader.train.num_workers = 0
dataloader.test.dataset.names = "nl_demo_shapes_val"
dataloader.test.mapper.augmentations = [
    L(T.ResizeShortestEdge)(short_edge_length=192, max_size=192)
]
dataloader.test.num_workers = 0
# detectron2's C++ COCOeval where this detectron2 has it, pycocotools' where not (the set-up's
# pure-Python build): any LazyConfig tool, detectron2's own too, then evaluates.
dataloader.evaluator.use_fast_impl = has_fast_coco_eval()

# Schedule: the YAML demo's.
optimizer.lr = 0.01
train.max_iter = 500
lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(MultiStepParamScheduler)(
        values=[1.0, 0.1], milestones=[400], num_updates=train.max_iter
    ),
    warmup_length=100 / train.max_iter,
    warmup_factor=0.001,
)
train.checkpointer.period = 250
train.eval_period = train.max_iter
train.device = "cpu"
train.seed = 1
train.output_dir = "output/lazy_demo"
