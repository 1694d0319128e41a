import glob
import os

import pytest

from detectron2.modeling import build_model

from nl_detectron.config import load_config
from nl_detectron.layers import AttentionBlock, build_block
from tests.helpers import REPO_ROOT

CONFIGS = sorted(
    os.path.relpath(p, REPO_ROOT)
    for p in glob.glob(os.path.join(REPO_ROOT, "configs", "**", "*.yaml"), recursive=True)
    if not os.path.basename(p).startswith("Base-")
)


# The block a config's name promises: "_NL" the NL block, "_SNL", "_GC" and "_DNL" the family's.
NAME_TAGS = {"_NL": "nonlocal", "_SNL": "simplified", "_GC": "gc", "_DNL": "disentangled"}


@pytest.mark.parametrize("config", [c for c in CONFIGS if "_3x" not in c])
def test_every_config_merges_and_builds(config):
    cfg = load_config(os.path.join(REPO_ROOT, config), ["MODEL.DEVICE", "cpu"])
    model = build_model(cfg)
    blocks = [m for m in model.modules() if isinstance(m, AttentionBlock)]
    tags = [tag for tag in NAME_TAGS if tag in os.path.basename(config)]
    assert (len(blocks) > 0) == bool(tags), len(blocks)
    if tags:
        assert cfg.MODEL.NONLOCAL.BLOCK == NAME_TAGS[tags[0]]
        want = build_block(64, block=cfg.MODEL.NONLOCAL.BLOCK)
        assert all(type(b) is type(want) for b in blocks)


@pytest.mark.parametrize("config", [c for c in CONFIGS if "_3x" in c])
def test_a_3x_config_is_its_1x_config_but_for_the_schedule(config):
    """So the 1x config's build above is the 3x one's too."""
    three = load_config(os.path.join(REPO_ROOT, config))
    one = load_config(os.path.join(REPO_ROOT, config.replace("_3x", "")))
    assert three.SOLVER.MAX_ITER == 3 * one.SOLVER.MAX_ITER
    three.SOLVER = one.SOLVER
    assert three == one


def test_nl_config_differs_from_its_baseline_twin_only_in_the_backbone_and_its_block():
    nl = load_config(os.path.join(REPO_ROOT, "configs", "mask_rcnn_R50_NL.yaml"))
    base = load_config(os.path.join(REPO_ROOT, "configs", "mask_rcnn_R50.yaml"))
    assert nl.MODEL.BACKBONE.NAME == "build_resnet_fpn_nl_backbone"
    base.MODEL.BACKBONE.NAME = nl.MODEL.BACKBONE.NAME
    # ... and in the block's own keys, which only an NL backbone reads (its SyncBN)
    assert nl.MODEL.NONLOCAL != base.MODEL.NONLOCAL
    base.MODEL.NONLOCAL = nl.MODEL.NONLOCAL
    assert nl == base
