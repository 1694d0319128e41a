"""GCNet's attention statistics on blocks whose answer is known."""

import math

import pytest
import torch

from nl_detectron.analysis.attention_stats import (
    AttentionStatistics,
    block_statistics,
    mean_pairwise_cosine_distance,
    statistics_markdown,
)
from nl_detectron.layers import MODES, NonLocalBlock2d
from tests.helpers import DEMO_BLOCK, perturb


def _naive_distance(vectors):
    """The mean over ordered pairs i != j of 1 - cos, rows of norm 0 left out."""
    vectors = vectors.detach().double()
    units = torch.nn.functional.normalize(vectors[vectors.norm(dim=1) > 0], dim=1)
    similarity = units @ units.T
    n = len(units)
    return 1 - (similarity.sum() - similarity.diagonal().sum()).item() / (n * (n - 1))


def test_mean_pairwise_cosine_distance_equals_the_pairwise_formula():
    torch.manual_seed(0)
    vectors = torch.randn(50, 7)
    assert mean_pairwise_cosine_distance(vectors) == pytest.approx(_naive_distance(vectors))
    assert mean_pairwise_cosine_distance(torch.ones(5, 3)) == pytest.approx(0.0, abs=1e-12)
    assert mean_pairwise_cosine_distance(torch.eye(4)) == pytest.approx(1.0)
    assert math.isnan(mean_pairwise_cosine_distance(torch.zeros(3, 2)))


def _perturbed(block):
    return perturb(block, std=0.3)


@pytest.mark.parametrize("mode", ["embedded_gaussian", "dot_product", "concatenation"])
def test_w_theta_zero_gives_one_map_for_every_query(mode):
    block = _perturbed(NonLocalBlock2d(32, mode=mode, norm="GN")).eval()
    with torch.no_grad():
        block.theta.weight.zero_()  # theta_i = its bias, the same for every i
    x = torch.randn(2, 32, 8, 10)
    for stats in block_statistics(block, x):
        assert stats["attention_distance"] == pytest.approx(0.0, abs=1e-9)
        assert stats["input_distance"] > 0.1  # the inputs differ, the maps do not


def test_w_theta_and_w_phi_zero_give_the_uniform_map():
    block = _perturbed(NonLocalBlock2d(32, norm="GN")).eval()
    with torch.no_grad():
        block.theta.weight.zero_()
        block.phi.weight.zero_()
    stats = block_statistics(block, torch.randn(1, 32, 8, 10))[0]
    assert stats["attention_distance"] == pytest.approx(0.0, abs=1e-9)
    assert stats["entropy"] == pytest.approx(1.0)
    assert stats["neighbourhood_weight"] == pytest.approx(stats["neighbourhood_uniform"])


def test_one_hot_attention_on_the_query_itself_gives_orthogonal_maps():
    """Each position's x is its own basis vector; theta = phi = x with a large scale: the softmax
    puts all its weight on the query's own position."""
    h, w = 4, 5
    block = NonLocalBlock2d(
        h * w, inter_channels=h * w, sub_sample=False, use_scale=False, norm=""
    ).eval()
    with torch.no_grad():
        for conv in (block.theta, block.phi):
            conv.weight.copy_(torch.eye(h * w)[:, :, None, None] * 50.0)
            conv.bias.zero_()
    x = torch.eye(h * w).reshape(h * w, h, w)[None]  # x_i = e_i
    stats = block_statistics(block, x)[0]
    assert stats["attention_distance"] == pytest.approx(1.0, abs=1e-9)
    assert stats["input_distance"] == pytest.approx(1.0)
    assert stats["entropy"] == pytest.approx(0.0, abs=1e-6)
    assert stats["neighbourhood_weight"] == pytest.approx(1.0)
    assert stats["neighbourhood_uniform"] < 0.5


@pytest.mark.parametrize("mode", MODES)
def test_chunks_give_the_statistics_of_the_whole_map(mode, monkeypatch):
    from nl_detectron.layers import nonlocal_ops

    block = _perturbed(NonLocalBlock2d(32, mode=mode, norm="GN")).eval()
    x = torch.randn(1, 32, 9, 11)
    whole = block_statistics(block, x)[0]
    monkeypatch.setattr(nonlocal_ops, "CHUNK_ELEMENTS", 7)  # one query row or so a chunk
    chunked = block_statistics(block, x)[0]
    for key, value in whole.items():
        if value is None:
            assert chunked[key] is None, key
        else:
            assert chunked[key] == pytest.approx(value, rel=1e-6), key
    theta, phi, _ = block.embed(x)
    from nl_detectron.layers import pairwise_weights

    rows = pairwise_weights(
        theta, phi, mode, concat_weight=block._concat_weight(), scale=block.scale
    )[0]
    assert whole["attention_distance"] == pytest.approx(_naive_distance(rows))


def test_hooks_collect_every_block_of_a_model_and_tabulate():
    model = torch.nn.Sequential(
        _perturbed(NonLocalBlock2d(32, norm="GN")), _perturbed(NonLocalBlock2d(32, norm="GN"))
    ).eval()
    stats = AttentionStatistics(model)
    with torch.no_grad():
        model(torch.randn(3, 32, 6, 6))
        model(torch.randn(0, 32, 6, 6))  # an empty batch adds no map
    summary = stats.summary()
    assert list(summary) == ["0", "1"] and all(row["maps"] == 3 for row in summary.values())
    table = statistics_markdown(summary)
    assert table.count("\n") == 4 and "| 0 | 3 |" in table
    stats.remove()
    with torch.no_grad():
        model(torch.randn(1, 32, 6, 6))
    assert stats.summary()["0"]["maps"] == 3


def test_the_tool_writes_json_table_and_a_plot_per_block(tmp_path):
    import json
    import os
    import subprocess
    import sys

    import cv2
    import numpy as np

    from tests.helpers import DEMO_CONFIG, REPO_ROOT

    for i in range(2):
        image = np.random.default_rng(i).integers(0, 256, (96, 128, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / f"{i}.png"), image)
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "tools", "attention_stats.py"),
         "--config-file", DEMO_CONFIG, "--input", str(tmp_path / "*.png"),
         "--output", str(tmp_path / "out"), "MODEL.DEVICE", "cpu"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "attention_stats.json").read_text())
    block = DEMO_BLOCK
    assert report["blocks"][block]["maps"] == 2
    assert 0.0 <= report["blocks"][block]["attention_distance"] <= 1.0
    # random weights on noise: anything from one-hot (0, seen once) to uniform (1)
    assert 0.0 <= report["blocks"][block]["entropy"] <= 1.0
    # a new block is the identity: it adds nothing, so its outputs have no direction
    assert report["blocks"][block]["output_distance"] is None
    assert f"| {block} | 2 |" in (tmp_path / "out" / "attention_stats.md").read_text()
    assert (tmp_path / "out" / f"{block}.png").stat().st_size > 5_000
