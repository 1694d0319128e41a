"""The far relational task is out of the baseline's reach: the class scores that the baseline
R18-FPN gives the objects' boxes do not change, to the bit, when the cue changes colour, while an
NL model's and the near task's do."""

import os

import numpy as np

from nl_detectron.data.relation_shapes import CUE_COLORS, CUE_WIDTH
from tests.helpers import REPO_ROOT, cue_side, scores_change

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


def test_the_baseline_cannot_see_the_far_cue():
    assert scores_change(FAR_CONFIG, "nl_relation_far_val", _recoloured, BASELINE) == [False] * 3


def test_an_nl_model_sees_the_far_cue_and_the_baseline_the_near_one():
    far = scores_change(FAR_CONFIG, "nl_relation_far_val", _recoloured, block_noise=True)
    near = scores_change(NEAR_CONFIG, "nl_relation_shapes_val", _recoloured, BASELINE)
    assert far == near == [True] * 3
