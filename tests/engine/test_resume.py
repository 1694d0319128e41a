"""SIGKILL at an arbitrary iteration, then --resume: the same final weights and losses as a
training that was never interrupted (CPU, fixed seed, DATALOADER.NUM_WORKERS 0)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import DEMO_CONFIG, REPO_ROOT, SMALL_TRAINING, command_line

MAX_ITER = 10
OPTS = command_line(
    SMALL_TRAINING,
    {
        "DATASETS.TEST": "()",
        "SOLVER.MAX_ITER": MAX_ITER,
        "SOLVER.CHECKPOINT_PERIOD": 2,
        "SOLVER.STEPS": "(6,)",
        "INPUT.RANDOM_FLIP": "horizontal",
        "SEED": 7,
    },
)


def _command(output_dir, *extra):
    return [
        sys.executable,
        os.path.join(REPO_ROOT, "tools", "train_net.py"),
        "--config-file",
        DEMO_CONFIG,
        *extra,
        *OPTS,
        "OUTPUT_DIR",
        str(output_dir),
    ]


def _losses(output_dir):
    with open(os.path.join(output_dir, "metrics.json")) as f:
        rows = [json.loads(line) for line in f]
    return {r["iteration"]: r["total_loss"] for r in rows if "total_loss" in r}


def _final_weights(output_dir):
    return torch.load(os.path.join(output_dir, "model_final.pth"), weights_only=True)["model"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    subprocess.run(_command(out, "--num-gpus", "1"), check=True, capture_output=True)
    return out


@pytest.mark.slow
def test_same_seed_gives_identical_losses(uninterrupted, tmp_path):
    subprocess.run(_command(tmp_path), check=True, capture_output=True)
    assert _losses(tmp_path) == _losses(uninterrupted)
    expected, got = _final_weights(uninterrupted), _final_weights(tmp_path)
    assert all(torch.equal(expected[k], got[k]) for k in expected)


@pytest.mark.slow
def test_sigkill_then_resume_ends_with_the_same_weights(uninterrupted, tmp_path):
    process = subprocess.Popen(
        _command(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    tag = tmp_path / "last_checkpoint"
    deadline = time.time() + 300
    # Kill once a checkpoint after iteration 3 exists: somewhere in the middle of training.
    while not (tag.exists() and tag.read_text() >= "model_0000005.pth"):
        assert process.poll() is None and time.time() < deadline, "training ended too early"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "model_final.pth").exists()
    resumed_from = tag.read_text()

    subprocess.run(_command(tmp_path, "--resume"), check=True, capture_output=True)
    expected, got = _final_weights(uninterrupted), _final_weights(tmp_path)
    assert expected.keys() == got.keys()
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, f"resumed from {resumed_from}; differing: {different[:5]}"


def test_a_sampler_that_cannot_resume_exactly_says_so(caplog):
    from nl_detectron.engine import Trainer
    from tests.helpers import small_cfg

    cfg = small_cfg(
        "DATALOADER.SAMPLER_TRAIN", "RepeatFactorTrainingSampler",
        "DATALOADER.REPEAT_THRESHOLD", 0.5,
    )  # fmt: skip
    Trainer.build_train_loader(cfg)
    assert "RepeatFactorTrainingSampler" in caplog.text
    assert "--resume restarts its data stream from the beginning" in caplog.text
