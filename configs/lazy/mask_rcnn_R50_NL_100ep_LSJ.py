"""
Mask R-CNN R50-FPN with one NL block in res4 (the paper's COCO setting), on detectron2's
strongest R50 recipe: new_baselines/mask_rcnn_R_50_FPN_100ep_LSJ.py (from scratch, SyncBN,
large-scale jitter, 64 images per batch, 100 epochs). Only the backbone differs from it.

The block's norm is SyncBN, as the recipe's backbone and every COCO config's block: the official
code's BN over the 64 images of a batch, its scale starting at zero (docs/block.md, "The norm
and its initial scale").
"""

from detectron2.config import LazyCall as L
from detectron2.model_zoo import get_config

from nl_detectron.modeling import nonlocal_resnet
from nl_detectron.utils.compat import has_fast_coco_eval

_baseline = get_config("new_baselines/mask_rcnn_R_50_FPN_100ep_LSJ.py")
dataloader = _baseline.dataloader
lr_multiplier = _baseline.lr_multiplier
model = _baseline.model
optimizer = _baseline.optimizer
train = _baseline.train

model.backbone.bottom_up = L(nonlocal_resnet)(
    resnet=model.backbone.bottom_up,
    after_blocks={"res4": [-2]},
    norm="SyncBN",
)
# The FPN reads its input features from the ResNet, now one level down.
model.backbone.in_features = "${.bottom_up.resnet.out_features}"
# detectron2's C++ COCOeval where this detectron2 has it, pycocotools' where not (the set-up's
# pure-Python build): any LazyConfig tool, detectron2's own too, then evaluates.
dataloader.evaluator.use_fast_impl = has_fast_coco_eval()
