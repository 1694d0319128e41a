import glob
import os

import pytest

from detectron2.modeling import build_model

from nl_detectron.config import load_config
from nl_detectron.layers import NonLocalBlock2d
from tests.helpers import REPO_ROOT

CONFIGS = sorted(
    os.path.relpath(p, REPO_ROOT)
    for p in glob.glob(os.path.join(REPO_ROOT, "configs", "**", "*.yaml"), recursive=True)
    if not os.path.basename(p).startswith("Base-")
)


@pytest.mark.parametrize("config", CONFIGS)
def test_every_config_merges_and_builds(config):
    cfg = load_config(os.path.join(REPO_ROOT, config), ["MODEL.DEVICE", "cpu"])
    model = build_model(cfg)
    num_nl = sum(isinstance(m, NonLocalBlock2d) for m in model.modules())
    assert (num_nl > 0) == ("_NL" in os.path.basename(config)), num_nl


def test_nl_config_differs_from_its_baseline_twin_only_in_the_backbone():
    nl = load_config(os.path.join(REPO_ROOT, "configs", "mask_rcnn_R50_NL.yaml"))
    base = load_config(os.path.join(REPO_ROOT, "configs", "mask_rcnn_R50.yaml"))
    assert nl.MODEL.BACKBONE.NAME == "build_resnet_fpn_nl_backbone"
    base.MODEL.BACKBONE.NAME = nl.MODEL.BACKBONE.NAME
    assert nl == base
