"""benchmarks/learned_runs.py on runs whose metrics are written by the test."""

import json

import pytest

from tests.helpers import load_script


def _run(folder, accuracies, period=200, max_iter=600):
    """A run evaluated every ``period`` iterations, its last evaluation after training when it
    ran to ``max_iter`` (as detectron2 records them)."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(f"SOLVER:\n  MAX_ITER: {max_iter}\n")
    with open(folder / "metrics.json", "w") as f:
        for k, value in enumerate(accuracies, start=1):
            at = k * period if k * period == max_iter else k * period - 1
            f.write(json.dumps({"iteration": k * period - 20, "total_loss": 1.0}) + "\n")
            f.write(json.dumps({"iteration": at, "relation/accuracy": value}) + "\n")


def test_curves_learned_fractions_and_the_paired_difference(tmp_path, capsys):
    script = load_script("benchmarks/learned_runs.py")
    _run(tmp_path / "a" / "seed1", [50.0, 95.0])  # stopped at its first evaluation >= 90
    _run(tmp_path / "a" / "seed2", [48.0, 60.0, 91.0])
    _run(tmp_path / "b" / "seed1", [50.0, 52.0, 49.0])
    _run(tmp_path / "b" / "seed2", [51.0, 55.0, 61.0])
    script.main(
        [
            "--group",
            "A",
            str(tmp_path / "a" / "seed*"),
            "--group",
            "B",
            str(tmp_path / "b" / "seed*"),
        ]
    )
    out = capsys.readouterr().out
    assert "| A | 1 | 200: 50.0, 400: 95.0 | 400 |" in out
    assert "| B | 2 | 200: 51.0, 400: 55.0, 600: 61.0 | not learned |" in out
    assert "| A | 2 of 2 |" in out and "| B | 0 of 2 |" in out
    assert "| 400, 600 |" in out
    # B - A over the seeds' last evaluations: (49 - 95 + 61 - 91) / 2 = -38.0
    assert "| B | 2 | -38.0 |" in out


def test_a_group_that_matches_no_run_is_refused_naming_it(tmp_path):
    with pytest.raises(SystemExit):
        load_script("benchmarks/learned_runs.py").main(["--group", "NL", str(tmp_path / "none*")])


def test_a_folder_without_a_seed_is_refused_naming_it():
    with pytest.raises(ValueError, match="output/run: the folder's name does not end"):
        load_script("benchmarks/learned_runs.py").seed_of("output/run")
