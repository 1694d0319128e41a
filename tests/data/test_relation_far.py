"""The far relational task is out of the baseline's reach: the class scores that the baseline
R18-FPN gives the objects' boxes do not change, to the bit, when the cue changes colour, while an
NL model's and the near task's do."""

import os

import cv2
import numpy as np
import torch

from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.structures import Boxes, BoxMode

from nl_detectron.config import load_config
from nl_detectron.data.relation_shapes import CUE_COLORS, CUE_WIDTH
from nl_detectron.layers import NonLocalBlock2d
from tests.helpers import REPO_ROOT, cue_side, perturb

FAR_CONFIG = os.path.join(REPO_ROOT, "configs", "demo", "faster_rcnn_R18_NL_relation_far.yaml")
NEAR_CONFIG = os.path.join(REPO_ROOT, "configs", "demo", "faster_rcnn_R18_NL_relation.yaml")
BASELINE = ["MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone"]


def _recoloured(image):
    """``image`` with its cue, the saturated end, in the other class's colour."""
    side, cue_class = cue_side(image)
    out = image.copy()
    columns = np.s_[:, :CUE_WIDTH] if side == "left" else np.s_[:, -CUE_WIDTH:]
    out[columns] = CUE_COLORS[1 - cue_class]
    return out


def _object_scores(model, image, boxes):
    """The box head's class scores (R, K + 1) for ``boxes`` (R, 4) in ``image`` (H, W, 3 BGR)."""
    inputs = [{"image": torch.as_tensor(image.transpose(2, 0, 1).astype("float32"))}]
    with torch.no_grad():
        features = model.backbone(model.preprocess_image(inputs).tensor)
        heads = model.roi_heads
        pooled = heads.box_pooler([features[f] for f in heads.box_in_features], [Boxes(boxes)])
        logits, _ = heads.box_predictor(heads.box_head(pooled))
    return logits.softmax(-1)


def _scores_change_with_the_cue(config, dataset, opts=(), block_noise=False):
    """Per image of ``dataset``: whether a random model's class scores for the objects' boxes
    change when the cue changes colour."""
    torch.manual_seed(0)
    model = build_model(load_config(config, [*opts, "MODEL.DEVICE", "cpu"])).eval()
    if block_noise:  # the block made to pass something on (it is the identity when inserted)
        for module in model.modules():
            if isinstance(module, NonLocalBlock2d):
                perturb(module)
    changed = []
    for d in DatasetCatalog.get(dataset)[:3]:
        image = cv2.imread(d["file_name"])
        boxes = torch.tensor(
            [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in d["annotations"]]
        )
        a, b = _object_scores(model, image, boxes), _object_scores(model, _recoloured(image), boxes)
        changed.append(not torch.equal(a, b))
    return changed


def test_the_baseline_cannot_see_the_far_cue():
    assert _scores_change_with_the_cue(FAR_CONFIG, "nl_relation_far_val", BASELINE) == [False] * 3


def test_an_nl_model_sees_the_far_cue_and_the_baseline_the_near_one():
    far = _scores_change_with_the_cue(FAR_CONFIG, "nl_relation_far_val", block_noise=True)
    near = _scores_change_with_the_cue(NEAR_CONFIG, "nl_relation_shapes_val", BASELINE)
    assert far == near == [True] * 3
