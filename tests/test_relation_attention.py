"""benchmarks/relation_attention.py: the share of an NL block's attention on the relational task's
cue, on an untrained model (random weights, 3 validation images)."""

import os

import cv2
import numpy as np
import pytest

from detectron2.data import DatasetCatalog

from nl_detectron.config import load_config
from nl_detectron.engine.predictor import build_predictor
from tests.helpers import REPO_ROOT, load_script

CONFIG = os.path.join(REPO_ROOT, "configs", "demo", "faster_rcnn_R18_NL_relation.yaml")


def _script():
    return load_script("benchmarks/relation_attention.py")


def test_cue_side_is_the_saturated_end():
    dataset = DatasetCatalog.get("nl_relation_shapes_val")[:6]
    script = _script()
    for d in dataset:
        image = cv2.imread(d["file_name"])
        side = script.cue_side(image)
        stripe = image[:, : script.CUE_WIDTH] if side == "left" else image[:, -script.CUE_WIDTH :]
        assert np.ptp(stripe.reshape(-1, 3).mean(0)) > 150  # one saturated red or blue


def test_attention_share_on_the_cue_is_a_share_and_uniform_is_one_key_column():
    dataset = DatasetCatalog.get("nl_relation_shapes_val")[:3]
    predictor = build_predictor(load_config(CONFIG, ["MODEL.WEIGHTS", ""]))
    share, uniform = _script().cue_attention(predictor, dataset)
    # 64x192 images: res4 is 4x12, its keys 2x6 cells of 32 pixels; the cue is 32 pixels wide
    assert uniform == pytest.approx(1 / 6)
    assert 0 <= share <= 1
