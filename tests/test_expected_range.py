"""tools/expected_range.py: where a demo run falls among the measured runs of its config."""

import json
import os

import pytest

from nl_detectron.evaluation.expected_range import expected_range_lines, range_position
from tests.helpers import REPO_ROOT, run_tool

MEASURED = os.path.join(REPO_ROOT, "configs", "demo", "measured_runs.json")


def test_range_position_says_where_and_gives_the_spread():
    assert range_position(5.0, [4.0, 6.0]) == (
        "5.0: inside their range, above 1 of them (the 2 measured runs: 4.0 to 6.0, mean 5.0 ± 1.4)"
    )
    assert range_position(3.0, [4.0, 6.0]).startswith("3.0: below all of them")
    assert range_position(7.0, [4.0, 6.0]).startswith("7.0: above all of them")


def test_every_demo_config_with_measured_runs_exists_and_names_tasks_it_evaluates():
    with open(MEASURED) as f:
        measured = json.load(f)
    for name, entries in measured.items():
        assert os.path.exists(os.path.join(REPO_ROOT, "configs", "demo", name)), name
        for entry in entries:
            assert entry["source"] and len(entry["runs"]) >= 2
            assert all(set(run) == set(entry["runs"][0]) for run in entry["runs"])
            # every block setting of the init it was measured with, by its MODEL.NONLOCAL key
            assert set(entry["settings"]) == {"NORM", "NORM_AT", "NORM_INIT_SCALE"}, name
        inits = [tuple(sorted(e["settings"].items())) for e in entries]
        assert len(set(inits)) == len(inits), name  # one entry per init


def test_lines_cover_the_metrics_the_runs_have():
    runs = {"source": "s", "runs": [{"bbox/AP": 60.0, "segm/AP": 70.0}, {"bbox/AP": 62.0}]}
    report = {"bbox": {"AP": 61.0, "AP50": 80.0}, "segm": {"AP": 71.0}}
    assert expected_range_lines(report, runs) == [
        "bbox/AP 61.0: inside their range, above 1 of them (the 2 measured runs: 60.0 to 62.0, "
        "mean 61.0 ± 1.4)",
        "segm/AP 71.0: above all of them (the 1 measured runs: 70.0 to 70.0, mean 70.0 ± 0.0)",
    ]


OLD_INIT = ["MODEL.NONLOCAL.NORM", "GN", "MODEL.NONLOCAL.NORM_INIT_SCALE", "0.0"]


@pytest.mark.parametrize("config, code", [("mask_rcnn_R50_NL_shapes.yaml", 0), ("nope.yaml", 2)])
def test_tool(tmp_path, config, code):
    report = tmp_path / "eval_report.json"
    report.write_text(json.dumps({"bbox": {"AP": 66.0}, "segm": {"AP": 90.0}}))
    status, output = run_tool(
        "expected_range.py",
        "--config-file",
        f"configs/demo/{config}",
        "--report",
        str(report),
        *OLD_INIT,
    )
    assert status == code, output
    if code == 0:
        assert "bbox/AP 66.0: inside their range" in output
        assert "segm/AP 90.0: above all of them" in output
        assert "MODEL.NONLOCAL.NORM_INIT_SCALE 0.0" in output
    else:
        assert "has no measured runs of nope.yaml" in output


def test_a_run_of_an_init_with_no_measured_runs_is_not_placed(tmp_path):
    runs = tmp_path / "runs.json"
    runs.write_text(
        json.dumps(
            {
                "mask_rcnn_R18_NL_fast.yaml": [
                    {
                        "source": "s",
                        "settings": {"NORM": "BN", "NORM_AT": "out", "NORM_INIT_SCALE": 0.5},
                        "runs": [{"bbox/AP": 1.0}, {"bbox/AP": 2.0}],
                    }
                ]
            }
        )
    )
    report = tmp_path / "eval_report.json"
    report.write_text(json.dumps({"bbox": {"AP": 66.0}}))
    status, output = run_tool(
        "expected_range.py",
        "--config-file",
        "configs/demo/mask_rcnn_R18_NL_fast.yaml",
        "--report",
        str(report),
        "--runs",
        str(runs),
    )
    assert status == 0, output
    assert "is not placed: its runs were measured with another init" in output
    assert "MODEL.NONLOCAL.NORM_INIT_SCALE 0.5" in output and "inside" not in output


def test_the_fast_demo_has_runs_of_the_default_init():
    """`make demo-fast` trains the config as it is: its run is placed among runs of its init."""
    from nl_detectron.config import load_config
    from nl_detectron.tools.expected_range import matching_runs

    with open(MEASURED) as f:
        measured = json.load(f)
    name = "mask_rcnn_R18_NL_fast.yaml"
    cfg = load_config(os.path.join(REPO_ROOT, "configs", "demo", name))
    assert matching_runs(measured[name], cfg.MODEL.NONLOCAL) is not None
