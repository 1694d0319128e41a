"""Python (LazyConfig) configs: the NL ResNet they build, their baseline twins, and the tool."""

import glob
import json
import os

import pytest
import torch
from omegaconf import OmegaConf

from detectron2.config import LazyConfig, get_cfg, instantiate
from detectron2.model_zoo import get_config
from detectron2.modeling.backbone import BasicStem, ResNet

from nl_detectron.config import add_nonlocal_config, load_any_config, load_config
from nl_detectron.layers import NonLocalBlock2d
from nl_detectron.modeling import nonlocal_resnet
from nl_detectron.modeling.backbone import add_nonlocal_blocks
from nl_detectron.twins import compare_with_baseline, lazy_baseline_twin
from nl_detectron.utils.compat import has_fast_coco_eval
from tests.helpers import DEMO_CONFIG, LAZY_DEMO, REPO_ROOT, SMALL_LAZY, load_checkpoint, run_tool

LAZY_CONFIGS = sorted(glob.glob(os.path.join(REPO_ROOT, "configs", "**", "*.py"), recursive=True))
# Each NL recipe and the model-zoo recipe it is the twin of.
TWINS = {
    "mask_rcnn_R50_NL_100ep_LSJ.py": "new_baselines/mask_rcnn_R_50_FPN_100ep_LSJ.py",
    "mask_rcnn_R101_NL_100ep_LSJ.py": "new_baselines/mask_rcnn_R_101_FPN_100ep_LSJ.py",
}


def nl_blocks(model):
    return {name for name, m in model.named_modules() if isinstance(m, NonLocalBlock2d)}


def test_the_lazy_configs_are_found():
    assert {os.path.basename(c) for c in LAZY_CONFIGS} >= {*TWINS, "mask_rcnn_R50_NL_shapes.py"}


@pytest.mark.parametrize("config", LAZY_CONFIGS, ids=os.path.basename)
def test_every_python_config_builds_with_one_block_before_the_last_of_res4(config):
    cfg = LazyConfig.load(config)
    model = instantiate(cfg.model)
    res4 = model.backbone.bottom_up.res4
    residual_blocks = [name for name, _ in res4.named_children() if name.isdigit()]
    assert nl_blocks(model) == {f"backbone.bottom_up.res4.nonlocal{residual_blocks[-2]}"}
    assert list(res4.named_children())[-2][0].startswith("nonlocal")


@pytest.mark.parametrize("name", TWINS)
def test_nl_recipe_loads_its_baseline_twins_weights_and_equals_it_at_init(name, tmp_path):
    torch.manual_seed(0)
    baseline = instantiate(get_config(TWINS[name]).model).eval()
    nl = instantiate(LazyConfig.load(os.path.join(REPO_ROOT, "configs", "lazy", name)).model)
    nl.eval()
    torch.save({"model": baseline.state_dict()}, tmp_path / "baseline.pth")
    incompatible = load_checkpoint(nl, tmp_path / "baseline.pth")
    assert not incompatible.unexpected_keys
    assert incompatible.missing_keys and all(".nonlocal" in k for k in incompatible.missing_keys)
    image = torch.randn(1, 3, 128, 128) * 50
    with torch.no_grad():
        expected, got = baseline.backbone(image), nl.backbone(image)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_the_recipes_differ_from_their_twins_in_the_backbone_only():
    """... and in the COCO evaluator, which is the one this detectron2 has (its C++ COCOeval or
    pycocotools), so that any LazyConfig tool evaluates them."""
    for name, twin in TWINS.items():
        nl = LazyConfig.load(os.path.join(REPO_ROOT, "configs", "lazy", name))
        baseline = get_config(twin)
        assert nl.dataloader.evaluator.pop("use_fast_impl") == has_fast_coco_eval()
        for key in ("dataloader", "optimizer", "lr_multiplier", "train"):
            assert _plain(nl[key]) == _plain(baseline[key]), key
        for key in baseline.model:
            if key != "backbone":
                assert _plain(nl.model[key]) == _plain(baseline.model[key]), key
        assert nl.model.backbone.bottom_up.resnet == baseline.model.backbone.bottom_up
        # The block's norm fits the recipe's SyncBN backbone.
        assert nl.model.backbone.bottom_up.norm == baseline.model.backbone.norm == "SyncBN"


def _plain(node):
    """A config node as plain data, its lambdas (new objects at each load) as their code."""

    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if getattr(value, "__name__", None) == "<lambda>":
            return value.__code__.co_code
        return value

    return plain(OmegaConf.to_container(node) if OmegaConf.is_config(node) else node)


def test_nonlocal_resnet_defaults_are_the_yaml_defaults():
    cfg = get_cfg()
    add_nonlocal_config(cfg)
    yaml = _resnet()
    add_nonlocal_blocks(yaml, cfg)
    lazy = nonlocal_resnet(_resnet())
    assert repr(lazy) == repr(yaml)
    assert {k: v.shape for k, v in lazy.state_dict().items()} == {
        k: v.shape for k, v in yaml.state_dict().items()
    }


def test_nonlocal_resnet_takes_every_setting_and_names_an_unknown_one():
    resnet = nonlocal_resnet(_resnet(), norm="BN", norm_init_scale=1.0, init_std=0.02)
    block = resnet.res4.nonlocal4
    assert isinstance(block.norm, torch.nn.BatchNorm2d)
    assert (block.norm.weight == 1).all() and (block.out.weight == 0).all()
    assert block.theta.weight.std().item() == pytest.approx(0.02, rel=0.1)
    with pytest.raises(
        TypeError,
        match=r"unknown block setting nonlocal_resnet\(nrom=...\); did you mean "
        r"nonlocal_resnet\(norm=...\)",
    ):
        nonlocal_resnet(_resnet(), nrom="BN")


def _resnet(freeze_at=0):
    return ResNet(
        BasicStem(),
        ResNet.make_default_stages(depth=50),
        out_features=["res4"],
        freeze_at=freeze_at,
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "cosine"}, "nonlocal_resnet(mode=...) = 'cosine' is not one of"),
        (
            {"after_blocks": {"res4": [6]}},
            "after_blocks={'res4': ...}): block index 6 is out of range",
        ),
        ({"after_blocks": {"res5": [0]}}, "this backbone builds no res5"),
        ({"norm": "LN2"}, "nonlocal_resnet(norm=...) = 'LN2' is not a detectron2 norm"),
        (
            {"after_blocks": {"res4": [1.0]}},
            "block index 1.0 is a float, not an int (valid: -6 to 5 for res4)",
        ),
        ({"after_blocks": {"res4": [True]}}, "block index True is a bool, not an int"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError) as error:
        nonlocal_resnet(_resnet(), **kwargs)
    assert message in str(error.value)


def test_applied_twice_it_is_refused_naming_the_blocks_there():
    resnet = nonlocal_resnet(_resnet())
    with pytest.raises(ValueError, match="res4 has blocks of the family already"):
        nonlocal_resnet(resnet)
    with pytest.raises(ValueError, match="res4.nonlocal4"):
        nonlocal_resnet(resnet, after_blocks={"res4": [1]})


def test_a_block_in_a_frozen_stage_is_refused_naming_freeze_at():
    with pytest.raises(ValueError) as error:
        nonlocal_resnet(_resnet(freeze_at=4))
    assert "res4 is frozen by the ResNet's freeze_at = 4" in str(error.value)


def run_ok(tool, *args):
    """``helpers.run_tool`` with every argument as a string; the tool must succeed."""
    status, output = run_tool(tool, *map(str, args))
    assert status == 0, output[-6000:]


@pytest.fixture(scope="module")
def lazy_trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("lazy_demo")
    run_ok(
        "lazyconfig_train_net.py", "--config-file", LAZY_DEMO, "train.max_iter=4",
        "train.eval_period=4", *SMALL_LAZY, f"train.output_dir={out}",
    )  # fmt: skip
    return out


@pytest.mark.slow
def test_the_lazy_demo_trains_a_few_iterations_evaluates_and_reloads(lazy_trained, tmp_path):
    with open(lazy_trained / "metrics.json") as f:
        rows = [row for row in map(json.loads, f) if "total_loss" in row]
    assert rows[-1]["iteration"] == 3 and torch.isfinite(torch.tensor(rows[-1]["total_loss"]))
    trained = json.loads((lazy_trained / "eval_report.json").read_text())
    assert {"bbox", "segm"} <= set(trained)
    run_ok(
        "lazyconfig_train_net.py", "--config-file", LAZY_DEMO, "--eval-only", *SMALL_LAZY,
        f"train.init_checkpoint={lazy_trained / 'model_final.pth'}", f"train.output_dir={tmp_path}",
    )  # fmt: skip
    assert json.loads((tmp_path / "eval_report.json").read_text()) == trained


@pytest.mark.slow
def test_demo_and_attention_maps_take_a_python_config(lazy_trained, tmp_path):
    weights = f"train.init_checkpoint={lazy_trained / 'model_final.pth'}"
    images = os.path.join(os.environ["DETECTRON2_DATASETS"], "nl_demo_shapes", "val")
    run_ok(
        "demo.py", "--config-file", LAZY_DEMO, "--input", os.path.join(images, "0001.png"),
        os.path.join(images, "0002.png"), "--output", tmp_path / "demo",
        "--confidence-threshold", 0.0, *SMALL_LAZY, weights,
    )  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["0001.png", "0002.png"]
    run_ok(
        "attention_maps.py", "--config-file", LAZY_DEMO, "--input",
        os.path.join(images, "0001.png"), "--output", tmp_path / "attention",
        "--query", 40, 60, *SMALL_LAZY, weights,
    )  # fmt: skip
    assert any(p.name.endswith("_panel.png") for p in (tmp_path / "attention").iterdir())


@pytest.mark.parametrize(
    "lazy_config, yaml_config, size",
    [
        (LAZY_DEMO, DEMO_CONFIG, 128),
        (
            os.path.join(REPO_ROOT, "configs", "lazy", "mask_rcnn_R18_NL_fast.py"),
            os.path.join(REPO_ROOT, "configs", "demo", "mask_rcnn_R18_NL_fast.yaml"),
            96,
        ),
    ],
    ids=["demo", "fast_demo"],
)
def test_analysis_of_the_lazy_demo_equals_that_of_the_yaml_demo(lazy_config, yaml_config, size):
    """The Python twins of the demos build the YAML demos' models: same params, same FLOPs."""
    lazy = compare_with_baseline(load_any_config(lazy_config, ["train.device=cpu"]), size, size)
    yaml = compare_with_baseline(load_any_config(yaml_config, ["MODEL.DEVICE", "cpu"]), size, size)
    assert lazy == yaml
    assert lazy["NL"]["nl_flops"] > 0 and lazy["baseline"]["nl_flops"] == 0


def test_the_lazy_baseline_twin_is_the_wrapped_resnet_and_a_config_without_nl_is_named():
    twin = lazy_baseline_twin(LazyConfig.load(LAZY_DEMO))
    assert not nl_blocks(instantiate(twin.model))
    with pytest.raises(ValueError, match="builds no NL block"):
        lazy_baseline_twin(twin)


@pytest.mark.slow
def test_compare_twins_takes_a_python_config(tmp_path):
    run_ok(
        "compare_twins.py", "--config-file", LAZY_DEMO, "--seeds", "1", "--output", tmp_path,
        "train.max_iter=2", *SMALL_LAZY,
    )  # fmt: skip
    for variant in ("baseline", "NL"):
        assert (tmp_path / variant / "seed1" / "eval_report.json").exists()
        assert "train.max_iter=2" in (tmp_path / f"{variant}.py").read_text()
    markdown = (tmp_path / "twins.md").read_text()
    assert "nonlocal_resnet (mask_rcnn_R18_NL_fast.py) against its baseline twin" in markdown
    assert "| params (M)" in markdown and "| bbox/AP" in markdown


def test_a_yaml_tool_given_a_python_config_names_the_tool_that_takes_it():
    with pytest.raises(ValueError) as error:
        load_config(LAZY_DEMO)
    assert "mask_rcnn_R18_NL_fast.py is a Python (LazyConfig) config" in str(error.value)
    assert "tools/lazyconfig_train_net.py" in str(error.value)
