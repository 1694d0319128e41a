"""The family's blocks behind ``MODEL.NONLOCAL.BLOCK``: placed as the NL block is, in the
backbone, the keypoint head and Python configs; unread settings refused."""

import pytest
import torch

from detectron2.modeling import build_backbone, build_model
from detectron2.modeling.backbone import BasicStem, ResNet

from nl_detectron.layers import (
    BLOCKS,
    AttentionBlock,
    DisentangledNonLocalBlock2d,
    GlobalContextBlock2d,
)
from nl_detectron.modeling import nonlocal_resnet
from tests.helpers import (
    DEMO_BLOCK,
    KEYPOINT_DEMO,
    R50_DEMO_CONFIG,
    baseline_cfg,
    check_baseline_checkpoint_predicts_the_same,
    small_cfg,
)


def _family_blocks(model):
    return {n: m for n, m in model.named_modules() if isinstance(m, AttentionBlock)}


@pytest.mark.parametrize("block", BLOCKS)
def test_every_block_loads_the_baselines_weights_and_predicts_what_it_predicts(block, tmp_path):
    opts = ("MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0)
    nl_cfg = small_cfg(*opts, "MODEL.NONLOCAL.BLOCK", block)
    fields = ("pred_boxes", "scores", "pred_classes", "pred_masks")
    check_baseline_checkpoint_predicts_the_same(baseline_cfg(*opts), nl_cfg, tmp_path, fields)
    assert list(_family_blocks(build_model(nl_cfg))) == [DEMO_BLOCK]


@pytest.mark.parametrize("block", BLOCKS)
def test_the_keypoint_head_takes_every_block_and_no_box(block):
    cfg = small_cfg("MODEL.NONLOCAL.BLOCK", block, config_file=KEYPOINT_DEMO)
    model = build_model(cfg).eval()
    head = model.roi_heads.keypoint_head
    names = [n for n in _family_blocks(head)]
    assert names == [f"nonlocal_fcn{k}" for k in (2, 4, 6, 8)]
    for name in names:
        x = torch.randn(0, 64, 7, 7)  # a head given no box
        assert getattr(head, name)(x).shape == (0, 64, 7, 7)


def test_gc_c3_to_c5_puts_a_block_after_every_residual_block():
    cfg = small_cfg(
        "MODEL.NONLOCAL.BLOCK", "gc", "MODEL.NONLOCAL.GC_RATIO", 4,
        "MODEL.NONLOCAL.AFTER_BLOCKS.RES3", [0, 1, 2, 3],
        "MODEL.NONLOCAL.AFTER_BLOCKS.RES4", [0, 1, 2, 3, 4, 5],
        "MODEL.NONLOCAL.AFTER_BLOCKS.RES5", [0, 1, 2], config_file=R50_DEMO_CONFIG,
    )  # fmt: skip
    blocks = _family_blocks(build_backbone(cfg))
    assert len(blocks) == 13 and all(isinstance(b, GlobalContextBlock2d) for b in blocks.values())
    assert blocks["bottom_up.res3.nonlocal0"].transform[0].out_channels == 512 // 4


@pytest.mark.parametrize(
    "opts, match",
    [
        (("MODEL.NONLOCAL.BLOCK", "gcnet"), "BLOCK = 'gcnet' is not one of nonlocal, simplified"),
        (
            ("MODEL.NONLOCAL.GC_RATIO", 4),
            "GC_RATIO = 4 set, but MODEL.NONLOCAL.BLOCK = 'nonlocal' does not read it",
        ),
        (
            ("MODEL.NONLOCAL.BLOCK", "gc", "MODEL.NONLOCAL.MODE", "dot_product"),
            "MODE = 'dot_product' set, but MODEL.NONLOCAL.BLOCK = 'gc' does not read it; that "
            "block reads MODEL.NONLOCAL.GC_RATIO, MODEL.NONLOCAL.GC_FUSION",
        ),
        (
            ("MODEL.NONLOCAL.BLOCK", "simplified", "MODEL.NONLOCAL.DNL_TEMPERATURE", 0.1),
            "DNL_TEMPERATURE = 0.1 set, but MODEL.NONLOCAL.BLOCK = 'simplified' does not read it; "
            "that block reads no other setting",
        ),
        (
            ("MODEL.NONLOCAL.BLOCK", "disentangled", "MODEL.NONLOCAL.MODE", "gaussian"),
            "MODE = 'gaussian', but MODEL.NONLOCAL.BLOCK = 'disentangled' whitens",
        ),
        (("MODEL.NONLOCAL.BLOCK", "gc", "MODEL.NONLOCAL.GC_RATIO", 0), "GC_RATIO = 0 must be"),
        (("MODEL.NONLOCAL.BLOCK", "gc", "MODEL.NONLOCAL.GC_FUSION", "cat"), "GC_FUSION = 'cat'"),
        (
            ("MODEL.NONLOCAL.BLOCK", "disentangled", "MODEL.NONLOCAL.DNL_TEMPERATURE", -1.0),
            "DNL_TEMPERATURE = -1.0 must be a finite number above 0",
        ),
    ],
)
def test_bad_or_unread_settings_are_named_at_build_time(opts, match):
    with pytest.raises(ValueError) as error:
        build_backbone(small_cfg(*opts))
    assert match in str(error.value)


def test_python_configs_take_every_block():
    def resnet():
        stages = ResNet.make_default_stages(depth=50)
        return ResNet(BasicStem(), stages, out_features=["res4"], freeze_at=0)

    kinds = {
        "simplified": GlobalContextBlock2d,
        "gc": GlobalContextBlock2d,
        "disentangled": DisentangledNonLocalBlock2d,
    }
    for block, kind in kinds.items():
        kwargs = {"gc_ratio": 4} if block == "gc" else {}
        net = nonlocal_resnet(resnet(), block=block, **kwargs)
        assert isinstance(net.res4.nonlocal4, kind)
    with pytest.raises(ValueError) as error:
        nonlocal_resnet(resnet(), gc_ratio=4)
    assert "nonlocal_resnet(gc_ratio=...) = 4 set, but nonlocal_resnet(block=...)" in str(
        error.value
    )
