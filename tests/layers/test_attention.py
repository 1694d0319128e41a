"""
The analysis interface (``layers.attention``) that every block of the family implements: the
same answers from every path (chunked or not, rows or maps), the query check, the input embedded
once per ``attention`` call however many chunks it takes.
"""

import pytest
import torch

from nl_detectron.layers import Attention, AttentionBlock, build_block, nonlocal_ops
from tests.helpers import perturb

BLOCKS = ("nonlocal", "disentangled", "gc", "simplified")


def _block(name):
    torch.manual_seed(0)
    return perturb(build_block(32, block=name)).double().eval()


@pytest.mark.parametrize("name", BLOCKS)
def test_every_block_implements_the_interface(name):
    block = _block(name)
    assert isinstance(block, AttentionBlock) and block.label
    x = torch.randn(2, 32, 6, 7, dtype=torch.float64)
    attention = block.attention(x)
    assert isinstance(attention, Attention)
    assert attention.key_grid == block.key_grid(6, 7)
    queries = [[0, 0], [5, 6], [2, 3]]
    maps = block.attention_map(x, queries)
    assert maps.shape == (2, 3, *block.key_grid(6, 7))
    torch.testing.assert_close(attention.rows(queries), maps.flatten(2))
    # softmax weights: each row sums to 1
    torch.testing.assert_close(maps.sum((2, 3)), torch.ones(2, 3, dtype=torch.float64))
    if block.query_independent:
        torch.testing.assert_close(maps[:, 0], maps[:, 1])
    else:
        assert not torch.allclose(maps[:, 0], maps[:, 1])


@pytest.mark.parametrize("name", BLOCKS)
def test_chunked_rows_equal_one_chunk(name, monkeypatch):
    block = _block(name)
    x = torch.randn(2, 32, 6, 7, dtype=torch.float64)
    queries = [[r, c] for r in range(6) for c in range(7)]
    whole = block.attention(x).rows(queries)
    monkeypatch.setattr(nonlocal_ops, "CHUNK_ELEMENTS", 2 * 9 * 5)  # 5 queries a chunk or fewer
    attention = block.attention(x)
    assert len(list(attention.chunks())) >= 42 // 5
    torch.testing.assert_close(attention.rows(queries), whole)
    starts = [start for start, _ in attention.chunks()]
    chunked = torch.cat([w for _, w in attention.chunks()], dim=1)
    assert starts[0] == 0 and starts == sorted(starts)
    torch.testing.assert_close(chunked, whole)


@pytest.mark.parametrize("name", ["nonlocal", "disentangled"])
def test_input_is_embedded_once_per_attention(name, monkeypatch):
    block = _block(name)
    calls = []
    embed = block.embed
    monkeypatch.setattr(block, "embed", lambda x: calls.append(1) or embed(x))
    monkeypatch.setattr(nonlocal_ops, "CHUNK_ELEMENTS", 9)  # one query a chunk
    block.attention(torch.randn(1, 32, 6, 7, dtype=torch.float64)).rows([[0, 0], [1, 1], [2, 2]])
    assert len(calls) == 1


@pytest.mark.parametrize("name", BLOCKS)
@pytest.mark.parametrize("bad", [[6, 0], [0, 7], [-1, 0]])
def test_queries_outside_the_grid_are_refused_naming_them(name, bad):
    with pytest.raises(ValueError, match=r"outside the 6x7 grid") as error:
        _block(name).attention_map(torch.randn(1, 32, 6, 7, dtype=torch.float64), [bad])
    assert str(bad) in str(error.value)


def test_no_query_gives_no_row():
    block = _block("nonlocal")
    rows = block.attention(torch.randn(2, 32, 6, 7, dtype=torch.float64)).rows([])
    assert rows.shape == (2, 0, 9)  # the 3x3 subsampled key grid


@pytest.mark.parametrize("name", BLOCKS)
def test_query_independent_terms(name):
    block = _block(name)
    x = torch.randn(2, 32, 6, 7, dtype=torch.float64)
    terms = block.query_independent_terms(x)
    if name != "disentangled":
        assert terms == []
        return
    ((term, label, weights),) = terms
    assert term == "unary" and label and not weights.requires_grad  # for analysis, as attention()
    assert weights.shape == (2, 9)  # the 3x3 subsampled key grid, as g's
    torch.testing.assert_close(weights.sum(1), torch.ones(2, dtype=torch.float64))
