"""benchmarks/stop_when_learned.py stops a training at its first evaluation at 90% or more."""

import json
import sys
import textwrap

import pytest

from tests.helpers import load_script

# A stand-in training: writes one evaluation a second to OUTPUT_DIR/metrics.json, then waits.
TRAINING = textwrap.dedent(
    """
    import json, sys, time
    out = sys.argv[sys.argv.index("OUTPUT_DIR") + 1]
    for k, accuracy in enumerate([50.0, 93.0, 99.0]):
        with open(out + "/metrics.json", "a") as f:
            f.write(json.dumps({"iteration": 200 * k + 199, "relation/accuracy": accuracy}) + "\\n")
        time.sleep(1)
    time.sleep(60)
    """
)


def test_the_training_is_stopped_at_its_first_learned_evaluation(tmp_path):
    script = load_script("benchmarks/stop_when_learned.py")
    out = tmp_path / "run"
    status = script.main([str(out), "--", sys.executable, "-c", TRAINING], poll_seconds=0.2)
    assert status == 0
    assert (out / "LEARNED").read_text() == "399 93.0\n"
    rows = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    assert len(rows) < 3  # stopped before the last evaluation


def test_a_training_that_ends_unlearned_returns_its_status(tmp_path):
    script = load_script("benchmarks/stop_when_learned.py")
    command = [sys.executable, "-c", "raise SystemExit(3)"]
    status = script.main([str(tmp_path / "run"), "--", *command], poll_seconds=0.2)
    assert status == 3 and not (tmp_path / "run" / "LEARNED").exists()


def test_first_learned_reads_the_first_evaluation_at_90(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"iteration": 199, "relation/accuracy": 89.9}\n{"iteration": 399, "relation')
    assert load_script("benchmarks/stop_when_learned.py").first_learned(str(path)) is None


def test_no_command_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        load_script("benchmarks/stop_when_learned.py").main([str(tmp_path / "run"), "--"])
    assert "no training command" in capsys.readouterr().err
