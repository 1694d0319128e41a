import pytest

from nl_detectron.config import load_config
from tests.helpers import REPO_ROOT, small_cfg


def test_misspelled_key_in_a_yaml_names_it_and_the_valid_keys(tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text(
        f'_BASE_: "{REPO_ROOT}/configs/mask_rcnn_R50_NL.yaml"\n'
        "MODEL:\n  NONLOCAL:\n    MOD: dot_product\n"
    )
    with pytest.raises(KeyError) as info:
        load_config(str(bad))
    message = str(info.value)
    assert "typo.yaml" in message and "MODEL.NONLOCAL.MOD" in message
    assert "did you mean MODEL.NONLOCAL.MODE?" in message
    assert "AFTER_BLOCKS, BLOCK, DNL_TEMPERATURE, GC_FUSION, GC_RATIO, IMPL, INIT_STD" in message


def test_misspelled_key_on_the_command_line():
    with pytest.raises(
        KeyError,
        match=r"the command line: unknown config key "
        r"MODEL.NONLOCAL.AFTER_BLOCKS.RES6; did you mean "
        r"MODEL.NONLOCAL.AFTER_BLOCKS.RES5\?",
    ):
        small_cfg("MODEL.NONLOCAL.AFTER_BLOCKS.RES6", [0])


def test_nonlocal_keys_without_an_nl_backbone_are_refused():
    with pytest.raises(
        ValueError,
        match=r"MODEL.NONLOCAL.MODE = 'dot_product' set, but "
        r"MODEL.BACKBONE.NAME = 'build_resnet_fpn_backbone' "
        r"\(its NL version: 'build_resnet_fpn_nl_backbone'\)",
    ):
        load_config(
            f"{REPO_ROOT}/configs/mask_rcnn_R50.yaml", ["MODEL.NONLOCAL.MODE", "dot_product"]
        )


def test_nl_keys_with_only_the_nl_keypoint_head_are_accepted():
    cfg = load_config(
        f"{REPO_ROOT}/configs/keypoint_rcnn_R50.yaml",
        [
            "MODEL.ROI_KEYPOINT_HEAD.NAME",
            "KRCNNConvDeconvUpsampleNLHead",
            "MODEL.NONLOCAL.KEYPOINT_HEAD_AFTER_CONVS",
            [4, 8],
        ],
    )
    assert cfg.MODEL.NONLOCAL.KEYPOINT_HEAD_AFTER_CONVS == [4, 8]


def test_a_keypoint_head_key_on_a_model_without_the_nl_head_is_refused():
    with pytest.raises(
        ValueError,
        match=r"KEYPOINT_HEAD_AFTER_CONVS = \[2\] set, but MODEL.KEYPOINT_ON = False builds no "
        r"non-local keypoint head",
    ):
        load_config(
            f"{REPO_ROOT}/configs/mask_rcnn_R50_NL.yaml",
            ["MODEL.NONLOCAL.KEYPOINT_HEAD_AFTER_CONVS", [2]],
        )


def test_backbone_placement_with_only_the_nl_keypoint_head_is_refused():
    with pytest.raises(
        ValueError,
        match=r"AFTER_BLOCKS.RES3 = \[1\] set, but MODEL.BACKBONE.NAME = "
        r"'build_resnet_fpn_backbone' \(its NL version",
    ):
        load_config(
            f"{REPO_ROOT}/configs/keypoint_rcnn_R50.yaml",
            ["MODEL.ROI_KEYPOINT_HEAD.NAME", "KRCNNConvDeconvUpsampleNLHead"]
            + ["MODEL.NONLOCAL.AFTER_BLOCKS.RES3", [1]],
        )


def test_no_norm_builds_with_w_z_at_zero():
    """README's key table: NORM "" is no norm, W_z zero instead."""
    from detectron2.modeling import build_model

    model = build_model(small_cfg("MODEL.NONLOCAL.NORM", ""))
    block = model.backbone.bottom_up.res4.nonlocal0
    assert block.norm is None and not block.out.weight.any() and not block.out.bias.any()
