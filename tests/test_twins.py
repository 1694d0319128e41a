"""tools/compare_twins.py: an NL config against its baseline twin, run as a user runs it."""

import json
import os
import subprocess
import sys

import pytest

from nl_detectron.twins import mean_and_spread, twin_configs, twins_markdown
from tests.helpers import DEMO_CONFIG, REPO_ROOT, SMALL_TRAINING, command_line, small_cfg


def test_twin_configs_differ_only_in_the_backbone_and_nl_keys():
    cfg = small_cfg("MODEL.NONLOCAL.MODE", "gaussian")
    twins = twin_configs(cfg)
    assert twins["NL"] is cfg
    assert twins["baseline"].MODEL.BACKBONE.NAME == "build_resnet_fpn_backbone"
    assert twins["baseline"].MODEL.NONLOCAL.MODE == "embedded_gaussian"  # reset to the default
    with pytest.raises(ValueError, match="build no NL block"):
        twin_configs(twins["baseline"])


def test_mean_spread_and_a_table_without_flops():
    assert mean_and_spread([1.0, 3.0]) == (2.0, pytest.approx(2**0.5))
    table = {"baseline": {"bbox/AP": [70.0, 68.0]}, "NL": {"bbox/AP": [62.0, 71.0]}}
    markdown = twins_markdown(table, [1, 2], {"error": "trace failed"}, "title")
    assert (
        "| bbox/AP | 69.0 ± 1.4 | 66.5 ± 6.4 | -2.5 ± 7.8 | 70.0 / 62.0, 68.0 / 71.0 |" in markdown
    )
    assert "not counted: trace failed" in markdown


@pytest.mark.slow
def test_compare_twins_trains_both_and_writes_the_table(tmp_path):
    opts = command_line(SMALL_TRAINING, {"SOLVER.MAX_ITER": 2, "SOLVER.CHECKPOINT_PERIOD": 100})
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "tools", "compare_twins.py"),
         "--config-file", DEMO_CONFIG, "--seeds", "1", "--output", str(tmp_path), *opts],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for variant in ("baseline", "NL"):
        assert (tmp_path / variant / "seed1" / "eval_report.json").exists()
    assert "build_resnet_fpn_backbone" in (tmp_path / "baseline.yaml").read_text()
    markdown = (tmp_path / "twins.md").read_text()
    rows = ("bbox/AP", "segm/AP", "s/iter", "peak memory (MiB)", "params (M)", "inference GMACs")
    for row in rows:
        assert f"| {row}" in markdown, row
    summary = json.loads((tmp_path / "twins.json").read_text())
    assert summary["seeds"] == [1] and set(summary["runs"]) == {"baseline", "NL"}
    assert (tmp_path / "curves.png").stat().st_size > 10_000
