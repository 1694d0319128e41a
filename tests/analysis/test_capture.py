"""``analysis.BlockCapture``: the one capture of the blocks' inputs behind the viewer, the attention
maps, the statistics and the relational attention measure."""

import pytest
import torch
from torch import nn

from nl_detectron.analysis import BlockCapture, family_blocks
from nl_detectron.layers import build_block


class _Model(nn.Module):
    def __init__(self, blocks=("nonlocal", "gc")):
        super().__init__()
        self.backbone = nn.Sequential(*(build_block(32, block=b) for b in blocks))
        self.head = build_block(32)

    def forward(self, x):
        return self.head(self.backbone(x))


def test_captures_every_call_input_and_output():
    model = _Model().eval()
    seen = []
    capture = BlockCapture(model, on_call=lambda name, block, x, out: seen.append(name))
    assert list(capture.blocks) == ["backbone.0", "backbone.1", "head"]
    x = torch.randn(2, 32, 5, 6)
    model(x)
    model(x[:1])
    assert seen == ["backbone.0", "backbone.1", "head"] * 2
    assert capture.input_size == (5, 6)
    first_in, first_out = capture.calls["backbone.0"]
    torch.testing.assert_close(first_in, x[:1])
    torch.testing.assert_close(capture.calls["backbone.1"][0], first_out)
    assert not first_out.requires_grad
    capture.remove()
    model(x)
    assert len(seen) == 6


def test_prefix_and_names_choose_the_blocks():
    model = _Model()
    assert list(family_blocks(model, "backbone.")) == ["backbone.0", "backbone.1"]
    capture = BlockCapture(model, prefix="backbone.", names=["backbone.1"])
    assert list(capture.blocks) == ["backbone.1"]
    with pytest.raises(ValueError, match=r"no NL block 'head' in the model; blocks: \['backbone"):
        BlockCapture(model, prefix="backbone.", names=["head"])


def test_a_model_without_blocks_is_refused():
    model = _Model(blocks=())
    model.head = nn.Identity()
    with pytest.raises(ValueError, match="no block of the non-local family"):
        BlockCapture(model)
    with pytest.raises(ValueError, match="whose name starts with 'backbone.'"):
        BlockCapture(_Model(blocks=()), prefix="backbone.")
