import pytest
import torch

from detectron2.modeling import build_backbone, build_model

from nl_detectron.layers import NonLocalBlock2d
from tests.helpers import (
    R50_DEMO_CONFIG,
    baseline_cfg,
    small_cfg,
)


def _nl_modules(model):
    return {n: m for n, m in model.named_modules() if isinstance(m, NonLocalBlock2d)}


def test_state_dict_keys_are_the_baselines_plus_nl_keys():
    torch.manual_seed(0)
    # The paper's R50: the block before the last of res4's 6 blocks, every ResNet name kept.
    nl_keys = set(build_model(small_cfg(config_file=R50_DEMO_CONFIG)).state_dict())
    base_keys = set(build_model(baseline_cfg(config_file=R50_DEMO_CONFIG)).state_dict())
    assert base_keys <= nl_keys
    assert "backbone.bottom_up.res4.5.conv1.weight" in base_keys
    new = nl_keys - base_keys
    assert new and all(k.startswith("backbone.bottom_up.res4.nonlocal4.") for k in new)
    assert "backbone.bottom_up.res4.nonlocal4.theta.weight" in new


def test_five_block_variant():
    cfg = small_cfg(
        "MODEL.NONLOCAL.AFTER_BLOCKS.RES3",
        [1, 3],
        "MODEL.NONLOCAL.AFTER_BLOCKS.RES4",
        [1, 3, 5],
        config_file=R50_DEMO_CONFIG,  # the paper's 5-block R50
    )
    backbone = build_backbone(cfg)
    names = sorted(_nl_modules(backbone))
    assert names == [f"bottom_up.res3.nonlocal{i}" for i in (1, 3)] + [
        f"bottom_up.res4.nonlocal{i}" for i in (1, 3, 5)
    ]
    assert _nl_modules(backbone)["bottom_up.res3.nonlocal1"].in_channels == 512
    out = backbone(torch.randn(1, 3, 128, 128))
    assert {k: v.shape[1:] for k, v in out.items()} == {
        "p2": (128, 32, 32),
        "p3": (128, 16, 16),
        "p4": (128, 8, 8),
        "p5": (128, 4, 4),
        "p6": (128, 2, 2),
    }


def test_nl_blocks_run_in_order_inside_the_stage():
    backbone = build_backbone(small_cfg(config_file=R50_DEMO_CONFIG))
    res4 = backbone.bottom_up.res4
    assert list(dict(res4.named_children())) == ["0", "1", "2", "3", "4", "nonlocal4", "5"]
    assert backbone.bottom_up.stages[backbone.bottom_up.stage_names.index("res4")] is res4


@pytest.mark.parametrize(
    "opts, match",
    [
        (("MODEL.NONLOCAL.MODE", "cosine"), r"MODEL.NONLOCAL.MODE = 'cosine'.*embedded_gaussian"),
        (
            ("MODEL.NONLOCAL.AFTER_BLOCKS.RES4", [2]),
            r"RES4: block index 2 is out of range.*2 blocks",
        ),
        (("MODEL.NONLOCAL.AFTER_BLOCKS.RES3", [-5]), r"RES3: block index -5 is out of range"),
        (("MODEL.NONLOCAL.AFTER_BLOCKS.RES4", [1, -1]), r"names the same block twice"),
        (("MODEL.NONLOCAL.INTER_CHANNELS", -8), r"INTER_CHANNELS = -8 must be"),
        (("MODEL.NONLOCAL.INTER_CHANNELS", 0), r"INTER_CHANNELS = 0 must be"),
        (("MODEL.NONLOCAL.NORM", "LayerNorm"), r"NORM = 'LayerNorm' is not a detectron2 norm"),
        (("MODEL.NONLOCAL.IMPL", "cuda"), r"IMPL = 'cuda'"),
        (
            ("MODEL.BACKBONE.FREEZE_AT", 3, "MODEL.NONLOCAL.AFTER_BLOCKS.RES3", [1]),
            r"RES3 = \[1\], but res3 is frozen by MODEL.BACKBONE.FREEZE_AT = 3",
        ),
    ],
)
def test_bad_nonlocal_config_fails_at_build_time(opts, match):
    with pytest.raises(ValueError, match=match):
        build_backbone(small_cfg(*opts))


def test_nl_in_a_stage_the_backbone_does_not_build():
    cfg = small_cfg(
        "MODEL.BACKBONE.NAME",
        "build_resnet_nl_backbone",
        "MODEL.RESNETS.OUT_FEATURES",
        ["res4"],
        "MODEL.NONLOCAL.AFTER_BLOCKS.RES5",
        [0],
    )
    with pytest.raises(ValueError, match=r"RES5 = \[0\], but this backbone builds no res5"):
        build_backbone(cfg)


def test_unknown_stage_key_is_refused():
    # yacs: KeyError from a file, AssertionError from the command line.
    with pytest.raises((KeyError, AssertionError), match="MODEL.NONLOCAL.AFTER_BLOCKS.RES6"):
        small_cfg("MODEL.NONLOCAL.AFTER_BLOCKS.RES6", [0])
