"""The one table of block settings, and what is derived from it."""

import os

import pytest
import torch

from detectron2.config import get_cfg

from nl_detectron.config import add_nonlocal_config
from nl_detectron.layers import SETTINGS, NonLocalBlock2d, build_block, check_settings
from nl_detectron.layers.settings import BLOCKS, DEFAULTS, block_settings, settings_markdown
from nl_detectron.modeling.backbone import nonlocal_block_kwargs
from tests.helpers import REPO_ROOT

# A refused value per setting.
BAD_VALUES = {
    "block": "gcnet",
    "mode": "cosine",
    "inter_channels": 0,
    "sub_sample": "yes",
    "sub_sample_at": "output",
    "norm": "LayerNorm",
    "norm_at": "z",
    "norm_init_scale": float("nan"),
    "init_std": 0.0,
    "logit_scale": -1.0,
    "use_scale": 1,
    "impl": "fast",
    "gc_ratio": True,
    "gc_fusion": "concat",
    "dnl_temperature": 0,
}


def test_every_default_passes_its_check_and_every_setting_has_a_refused_value():
    assert set(BAD_VALUES) == set(DEFAULTS)
    assert check_settings() == DEFAULTS


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_a_refused_value_names_the_key_the_user_wrote_and_the_value(name):
    value = BAD_VALUES[name]
    with pytest.raises(ValueError, match=rf"^MODEL\.NONLOCAL\.{name.upper()} = {value!r}"):
        check_settings(key=lambda n: f"MODEL.NONLOCAL.{n.upper()}", **{name: value})


def test_the_config_keys_are_the_settings_with_their_defaults():
    cfg = get_cfg()
    add_nonlocal_config(cfg)
    assert {s.key: cfg.MODEL.NONLOCAL[s.key] for s in SETTINGS} == {
        s.key: s.default for s in SETTINGS
    }
    assert nonlocal_block_kwargs(cfg) == DEFAULTS


@pytest.mark.parametrize("block", BLOCKS)
def test_a_changed_setting_the_block_does_not_read_is_refused(block):
    unread = [s.name for s in SETTINGS if block not in s.blocks]
    for name in unread:
        value = next(v for v in (2, 0.5, "naive", "BN", 64) if v != DEFAULTS[name])
        if SETTINGS[[s.name for s in SETTINGS].index(name)].check(value):
            continue  # a value its own check refuses first
        with pytest.raises(ValueError, match=f"{name} = {value!r} set, but block = {block!r}"):
            check_settings(block=block, **{name: value})


def test_each_block_gets_what_it_reads():
    for block in ("nonlocal", "disentangled"):
        module = build_block(32, block=block, norm="BN", norm_init_scale=0.5, init_std=0.03)
        assert module.norm_init_scale == 0.5 and module.init_std == 0.03
    assert build_block(32, logit_scale=4.0).scale == pytest.approx(4.0 / 16**0.5)
    assert build_block(64, block="gc", gc_ratio=4).ratio == 4
    assert "logit_scale" not in block_settings("disentangled")


@pytest.mark.parametrize(
    "settings",
    [dict(norm="GN", norm_init_scale=1.0), dict(norm="BN", norm_init_scale=0.1), dict()],
)
def test_the_block_is_the_identity_at_init_whatever_the_norm_scale(settings):
    torch.manual_seed(0)
    block = NonLocalBlock2d(32, **settings)
    x = torch.randn(2, 32, 6, 6)
    assert torch.equal(block(x), x)
    if settings.get("norm_init_scale"):
        assert (block.norm.weight == settings["norm_init_scale"]).all()
        assert not block.out.weight.any() and not block.out.bias.any()


def test_a_non_zero_norm_scale_without_a_trainable_norm_is_refused():
    for norm in ("", "FrozenBN"):
        with pytest.raises(ValueError, match=f"norm_init_scale = 1.0, but norm = {norm!r}"):
            NonLocalBlock2d(32, norm=norm, norm_init_scale=1.0)
        with pytest.raises(ValueError, match="NORM_INIT_SCALE = 1.0, but MODEL.NONLOCAL.NORM"):
            check_settings(
                key=lambda n: f"MODEL.NONLOCAL.{n.upper()}", norm=norm, norm_init_scale=1.0
            )


def test_a_logit_scale_needs_a_softmax_mode():
    with pytest.raises(ValueError, match="logit_scale = 2.0, but mode = 'dot_product'"):
        check_settings(mode="dot_product", logit_scale=2.0)


def test_init_std_sets_the_embeddings_spread():
    torch.manual_seed(0)
    block = NonLocalBlock2d(256, init_std=0.1)
    for conv in (block.theta, block.phi, block.g):
        assert conv.weight.std().item() == pytest.approx(0.1, rel=0.05)


def test_the_docs_key_table_is_the_settings_table():
    with open(os.path.join(REPO_ROOT, "docs", "config.md")) as f:
        page = f.read()
    assert settings_markdown() in page
