import json
import os

import pytest
import torch

from nl_detectron.engine import Trainer, diagnostics
from nl_detectron.engine.diagnostics import block_statistics
from nl_detectron.layers import NonLocalBlock2d
from tests.helpers import REPO_ROOT, SMALL_TRAINING, command_line, small_cfg

FAST_CONFIG = os.path.join(REPO_ROOT, "configs", "demo", "mask_rcnn_R18_NL_fast.yaml")


def test_the_spread_across_images_and_positions_of_a_constructed_norm_input():
    block = NonLocalBlock2d(32, norm="GN")
    x = torch.randn(3, 32, 4, 6)
    # the same at every position, different per image: no spread over positions
    per_image = torch.tensor([1.0, 2.0, 3.0])[:, None, None, None].expand(3, 32, 4, 6)
    stats = block_statistics(block, x, per_image)
    assert stats["norm_input_std_positions"] == 0
    assert stats["norm_input_std_images"] == pytest.approx(torch.tensor([1.0, 2, 3]).std(0, False))
    # the same in every image, different per position: no spread over images
    per_position = torch.arange(24.0).reshape(1, 1, 4, 6).expand(3, 32, 4, 6)
    stats = block_statistics(block, x, per_position)
    assert stats["norm_input_std_images"] == 0
    assert stats["norm_input_std_positions"] == pytest.approx(torch.arange(24.0).std(0, False))


def test_zero_embeddings_give_uniform_attention_and_no_logit_spread():
    block = NonLocalBlock2d(32, norm="GN")
    torch.nn.init.zeros_(block.theta.weight)
    x = torch.randn(2, 32, 4, 6)
    stats = block_statistics(block, x, torch.zeros(2, 32, 4, 6))
    assert stats["logit_std"] == 0
    assert stats["entropy"] == pytest.approx(1.0)
    assert stats["query_distance"] == pytest.approx(0.0, abs=1e-9)
    # a sharp block: each query's map its own
    torch.nn.init.normal_(block.theta.weight, std=10)
    sharp = block_statistics(block, x, torch.zeros(2, 32, 4, 6))
    assert sharp["logit_std"] > 1 and sharp["entropy"] < 0.9 and sharp["query_distance"] > 0.1


@pytest.mark.parametrize("mode", ["dot_product", "concatenation"])
def test_the_1_over_n_modes_report_no_logit_spread(mode):
    """Their f is normalised by N, not by a softmax: a logit std would mean nothing there."""
    block = NonLocalBlock2d(32, norm="GN", mode=mode)
    stats = block_statistics(block, torch.randn(2, 32, 4, 6), torch.zeros(2, 32, 4, 6))
    assert "logit_std" not in stats and "query_distance" in stats


def test_a_large_map_is_measured_over_a_bounded_set_of_queries(monkeypatch):
    """No (N, L, S) matrix of every query: the weights are taken for at most QUERIES of them."""
    block = NonLocalBlock2d(32, norm="GN")
    shapes = []
    weights = block.weights
    monkeypatch.setattr(block, "weights", lambda t, p: shapes.append(t.shape) or weights(t, p))
    block_statistics(block, torch.randn(2, 32, 40, 40), torch.zeros(2, 32, 40, 40))
    assert shapes == [(2, diagnostics.QUERIES, 16)]


def test_training_with_diagnostics_writes_them_to_metrics_json(tmp_path):
    cfg = small_cfg(
        *command_line(
            SMALL_TRAINING,
            {
                "SOLVER.MAX_ITER": "1",
                "NL_DIAGNOSTICS.PERIOD": "1",
                "MODEL.NONLOCAL.NORM_INIT_SCALE": "0.0",
                "OUTPUT_DIR": str(tmp_path),
                "TEST.EVAL_PERIOD": "0",
                "DATASETS.TEST": "()",
            },
        ),
        config_file=FAST_CONFIG,
    )
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    with open(tmp_path / "metrics.json") as f:
        records = [json.loads(line) for line in f]
    logged = {k: r["iteration"] for r in records for k in r if "nonlocal" in k}
    block = "backbone.bottom_up.res4.nonlocal0"
    for stat in (
        "norm_input_std_images",
        "norm_input_std_positions",
        "grad_theta",
        "grad_phi",
        "grad_g",
        "grad_out",
        "grad_norm_scale",
        "logit_std",
        "entropy",
        "query_distance",
    ):
        assert f"{block}/{stat}" in logged, sorted(logged)
    # at the first step, with the norm's scale at zero, only the scale gets a gradient there
    grads = {k: r[k] for r in records for k in r if k.startswith(f"{block}/grad_")}
    assert grads[f"{block}/grad_norm_scale"] > 0
    assert grads[f"{block}/grad_theta"] == 0 and grads[f"{block}/grad_out"] == 0
