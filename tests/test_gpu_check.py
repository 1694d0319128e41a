"""benchmarks/gpu_check.py, the script a session with a GPU runs once, kept from rotting: its
CPU run (--device cpu --quick) passes every check it makes and writes both reports."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_and_every_check_passes(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "benchmarks", "gpu_check.py"),
         "--device", "cpu", "--quick", "--output", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    sections = report["sections"]
    assert set(sections) == {"correctness", "sdpa_backends", "block", "model", "training", "export"}
    assert not [name for name, section in sections.items() if "error" in section]
    correctness = sections["correctness"]["rows"]
    assert len(correctness) == 4 * 3 * (4 + 1)  # modes x orders x (fp32 shapes + bf16)
    assert all(row["ok"] for row in correctness)
    assert {tuple(row["shape"])[0] for row in correctness} == {0, 1, 2}
    assert all(row["match"] for row in sections["sdpa_backends"]["rows"])
    assert all(row["equal"] for row in sections["export"]["rows"])
    assert sections["training"]["rows"][0]["losses_finite"]
    assert "## sdpa_backends" in (tmp_path / "gpu_check.md").read_text()


def test_gpu_check_without_cuda_says_so(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal is for machines without it")
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "benchmarks", "gpu_check.py"),
         "--output", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2 and "CUDA is not available" in result.stderr
