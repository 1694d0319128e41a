"""``nl_detectron.model_zoo``: every config of configs/ through it, and its refusals."""

import glob
import os

import pytest
import torch
from omegaconf import DictConfig

from detectron2.config import CfgNode

from nl_detectron import model_zoo
from tests.helpers import REPO_ROOT


def test_every_config_of_the_checkout_is_listed_and_found():
    on_disk = sorted(
        os.path.relpath(p, os.path.join(REPO_ROOT, "configs")).replace(os.sep, "/")
        for suffix in ("yaml", "py")
        for p in glob.glob(os.path.join(REPO_ROOT, "configs", "**", f"*.{suffix}"), recursive=True)
    )
    assert model_zoo.list_configs() == on_disk
    for path in on_disk:
        found = model_zoo.get_config_file(path)
        assert os.path.samefile(found, os.path.join(REPO_ROOT, "configs", path))


@pytest.mark.parametrize(
    "path", [p for p in model_zoo.list_configs() if not os.path.basename(p).startswith("Base-")]
)
def test_every_config_loads_with_its_base_chain(path):
    cfg = model_zoo.get_config(path)
    if path.endswith(".py"):
        assert isinstance(cfg, DictConfig) and "model" in cfg
    else:
        assert isinstance(cfg, CfgNode) and "NONLOCAL" in cfg.MODEL
        assert cfg.MODEL.ROI_HEADS.NAME  # from the Base-*.yaml of its _BASE_ chain


def test_get_builds_the_model_and_the_twin_has_no_block():
    torch.manual_seed(0)
    model = model_zoo.get("demo/mask_rcnn_R18_NL_fast.yaml", device="cpu")
    assert any(".nonlocal" in name for name, _ in model.named_modules())
    twin = model_zoo.baseline_twin_of("demo/mask_rcnn_R18_NL_fast.yaml")
    assert twin.MODEL.BACKBONE.NAME == "build_resnet_fpn_backbone"
    lazy_twin = model_zoo.baseline_twin_of("lazy/mask_rcnn_R18_NL_fast.py")
    assert "nonlocal_resnet" not in str(lazy_twin.model.backbone.bottom_up._target_)


def test_an_unknown_config_is_named_with_the_closest_ones():
    with pytest.raises(FileNotFoundError) as error:
        model_zoo.get_config_file("mask_rcnn_R50_nl.yaml")
    assert "'mask_rcnn_R50_nl.yaml' is not a config" in str(error.value)
    assert "did you mean mask_rcnn_R50.yaml, mask_rcnn_R50_NL.yaml" in str(error.value)
    with pytest.raises(FileNotFoundError, match="'demo/measured_runs.json' is not a config"):
        model_zoo.get_config_file("demo/measured_runs.json")


def test_trained_weights_are_refused_rather_than_a_random_model():
    with pytest.raises(
        ValueError, match="no trained weights of mask_rcnn_R50_NL.yaml are published"
    ):
        model_zoo.get_config("mask_rcnn_R50_NL.yaml", trained=True)
    with pytest.raises(ValueError, match="no trained weights"):
        model_zoo.get("demo/mask_rcnn_R18_NL_fast.yaml", trained=True)


@pytest.mark.parametrize(
    "path",
    ["../setup.py", "../configs/mask_rcnn_R50_NL.yaml", "/etc/passwd", "demo/../../setup.py"],
)
def test_a_path_outside_the_shipped_configs_is_refused(path):
    with pytest.raises(FileNotFoundError, match="is not a config of nl_detectron's model zoo"):
        model_zoo.get_config_file(path)
    with pytest.raises(FileNotFoundError):
        model_zoo.get_config(path)


def test_a_config_path_of_another_type_is_named():
    with pytest.raises(TypeError, match="config_path must be a str .* got 3"):
        model_zoo.get_config_file(3)
