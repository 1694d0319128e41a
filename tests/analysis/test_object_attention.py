"""Where object queries look, on blocks whose attention is known."""

import math

import pytest
import torch

from nl_detectron.analysis.object_attention import key_cell_boxes, object_attention, overlapping
from nl_detectron.layers import AttentionBlock, NonLocalBlock2d


class _LooksAt(AttentionBlock):
    """Every query puts all its weight on one chosen key cell of a (2, 4) key grid: ``target``
    maps a flat query index to a flat key index."""

    def __init__(self, target):
        super().__init__()
        self.in_channels, self.target = 8, target

    def key_grid(self, h, w):
        return (2, 4)

    def query_weights(self, x):
        def weights(index):
            rows = torch.zeros(1, len(index), 8)
            rows[
                0, torch.arange(len(index)), torch.tensor([self.target(int(i)) for i in index])
            ] = 1
            return rows

        return weights


def test_key_cells_tile_the_input():
    cells = key_cell_boxes((64, 512), (2, 16))
    assert cells.shape == (32, 4)
    assert cells[0].tolist() == [0, 0, 32, 32] and cells[-1].tolist() == [480, 32, 512, 64]
    area = ((cells[:, 2] - cells[:, 0]) * (cells[:, 3] - cells[:, 1])).sum()
    assert area == 64 * 512


def test_a_cell_overlaps_a_box_only_by_a_positive_area():
    cells = key_cell_boxes((64, 128), (2, 4))  # 32-pixel cells
    assert overlapping(cells, (30, 10, 40, 20)).nonzero().flatten().tolist() == [0, 1]
    assert overlapping(cells, (32, 32, 64, 64)).nonzero().flatten().tolist() == [5]


def test_shares_of_a_query_that_looks_at_its_related_object():
    # input 64x128 on a 4x8 query grid (16-pixel cells), keys 2x4 (32-pixel cells); object A at
    # the left, its related object at the right; the query at A's centre looks at key 7
    block = _LooksAt(lambda query: 7)
    x = torch.zeros(1, 8, 4, 8)
    objects = [((4, 36, 20, 52), (100, 36, 120, 52)), ((4, 4, 20, 20), None)]
    rows, distance = object_attention(block, x, (64, 128), objects)
    assert rows[0] == {"own": 0.0, "own_uniform": 1 / 8, "related": 1.0, "related_uniform": 1 / 8}
    assert rows[1]["related"] is None and rows[1]["own"] == 0.0
    assert distance == pytest.approx(0.0)  # both queries look at the same cell


def test_queries_that_look_at_different_cells_are_distance_1_apart():
    block = _LooksAt(lambda query: query % 8)  # flat query index -> a key of its own column
    x = torch.zeros(1, 8, 4, 8)
    objects = [((0, 0, 10, 10), None), ((20, 0, 30, 10), None)]  # query cells 0 and 1
    _, distance = object_attention(block, x, (64, 128), objects)
    assert distance == pytest.approx(1.0)


def test_uniform_attention_puts_the_uniform_share_everywhere():
    block = NonLocalBlock2d(8, sub_sample=False).eval()
    torch.nn.init.zeros_(block.theta.weight)
    torch.nn.init.zeros_(block.theta.bias)  # every logit 0: softmax uniform
    x = torch.randn(1, 8, 4, 8)
    objects = [((0, 0, 20, 20), (100, 40, 128, 64)), ((40, 40, 60, 60), (0, 0, 16, 16))]
    rows, distance = object_attention(block, x, (64, 128), objects)
    for row in rows:
        assert row["own"] == pytest.approx(row["own_uniform"])
        assert row["related"] == pytest.approx(row["related_uniform"])
    assert distance == pytest.approx(0.0, abs=1e-9)


def test_no_object_no_rows():
    rows, distance = object_attention(_LooksAt(lambda q: 0), torch.zeros(1, 8, 4, 8), (64, 128), [])
    assert rows == [] and math.isnan(distance)
