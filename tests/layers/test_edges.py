"""
Every edge of the layers' public API refuses what it cannot honour, naming the argument, the
value and what would work: a misspelt keyword, a wrong type, a value at its bound.
"""

import pytest
import torch

from nl_detectron.layers import (
    DisentangledNonLocalBlock2d,
    GlobalContextBlock2d,
    NonLocalBlock2d,
    build_block,
)
from nl_detectron.layers.family import BUILDERS
from nl_detectron.layers.settings import BLOCKS, DEFAULTS


def test_every_block_name_has_its_builder():
    assert set(BUILDERS) == set(BLOCKS)


@pytest.mark.parametrize("block", BLOCKS)
def test_a_misspelt_setting_is_refused_with_the_closest_name(block):
    with pytest.raises(TypeError, match="unknown block setting gc_ratoi; did you mean gc_ratio"):
        build_block(256, block=block, gc_ratoi=4)


def test_a_setting_the_block_does_not_read_is_refused():
    with pytest.raises(ValueError, match="gc_ratio = 4 set, but block = 'nonlocal' does not read"):
        build_block(256, gc_ratio=4)
    assert build_block(256, block="gc", gc_ratio=4).ratio == 4


def test_the_class_and_the_config_share_their_defaults():
    by_class, by_config = NonLocalBlock2d(256), build_block(256)
    assert type(by_class.norm) is type(by_config.norm)
    for name in ("norm_init_scale", "init_std", "sub_sample", "sub_sample_at", "mode", "scale"):
        assert getattr(by_class, name) == getattr(by_config, name), name
    for a, b in zip(by_class.state_dict().values(), by_config.state_dict().values()):
        assert a.shape == b.shape
    gc = GlobalContextBlock2d(256)
    assert (gc.ratio, gc.fusion) == (DEFAULTS["gc_ratio"], DEFAULTS["gc_fusion"])
    assert DisentangledNonLocalBlock2d(256).temperature == DEFAULTS["dnl_temperature"]


@pytest.mark.parametrize("in_channels, ratio", [(32, 32), (16, 16), (24, 16), (8, 16)])
def test_a_gc_bottleneck_of_one_channel_is_refused(in_channels, ratio):
    """A LayerNorm over one channel (or none) returns its bias whatever the context."""
    with pytest.raises(
        ValueError, match=f"ratio = {ratio} leaves [01] channel.* at most {in_channels // 2}"
    ):
        GlobalContextBlock2d(in_channels, ratio=ratio)
    with pytest.raises(ValueError, match=f"ratio = {ratio} leaves"):
        build_block(in_channels, block="gc", gc_ratio=ratio)


def test_a_gc_bottleneck_of_two_channels_sees_the_context():
    block = GlobalContextBlock2d(32, ratio=16)
    torch.nn.init.normal_(block.transform[-1].weight)
    x = torch.randn(2, 32, 4, 4)
    out = block(x) - x
    assert not torch.allclose(out[0], out[1])  # the term depends on each image's context


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(mode="Embedded_Gaussian"), ValueError, "mode = 'Embedded_Gaussian' is not one of"),
        (dict(inter_channels=0), ValueError, "inter_channels = 0 must be None"),
        (dict(inter_channels=2.0), ValueError, "inter_channels = 2.0 must be None"),
        (dict(norm="LN"), ValueError, "norm = 'LN' is not a detectron2 norm"),
        (dict(init_std=-0.01), ValueError, "init_std = -0.01 must be a finite number above 0"),
        (dict(sub_sample=1), ValueError, "sub_sample = 1 must be True or False"),
        (
            dict(logit_scale=float("inf")),
            ValueError,
            "logit_scale = inf must be a finite number above 0",
        ),
    ],
)
def test_a_bad_block_argument_names_itself_and_its_value(kwargs, error, match):
    with pytest.raises(error, match=match):
        NonLocalBlock2d(64, **kwargs)
    with pytest.raises(error, match=match):
        build_block(64, **kwargs)


@pytest.mark.parametrize("in_channels", [0, -1, 64.0, "64"])
def test_in_channels_must_be_a_positive_int(in_channels):
    for block in BLOCKS:
        with pytest.raises(ValueError, match="in_channels must be a positive int"):
            build_block(in_channels, block=block)


def test_a_batch_norm_given_one_value_per_channel_in_training_uses_its_running_statistics():
    """A batch of one 1x1 map has no batch statistics: the default BN trains through it."""
    torch.manual_seed(0)
    block = NonLocalBlock2d(64, norm="BN")
    torch.nn.init.normal_(block.norm.weight)
    x = torch.randn(1, 64, 1, 1)
    trained = block.train()(x)
    assert torch.equal(trained, block.eval()(x)) and not torch.equal(trained, x)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("shape", [(64, 16, 16), (2, 32, 16, 16), (1, 1, 64, 16, 16)])
def test_an_input_that_is_not_n_c_h_w_with_its_channels_is_refused_naming_both_shapes(block, shape):
    module = build_block(64, block=block)
    expected = rf"takes an \(N, 64, H, W\) tensor, got shape \({', '.join(map(str, shape))}\)"
    with pytest.raises(ValueError, match=expected):
        module(torch.zeros(shape))
    with pytest.raises(ValueError, match=expected):
        module.attention(torch.zeros(shape))
    assert module(torch.zeros(2, 64, 4, 4)).shape == (2, 64, 4, 4)
