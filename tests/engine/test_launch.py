"""Which process group an outside launcher describes in the environment."""

from datetime import timedelta

import pytest

from nl_detectron.config import load_any_config
from nl_detectron.engine import LaunchError, launch, launcher_group
from nl_detectron.engine.launch import LauncherGroup, process_group_timeout
from tests.helpers import DEMO_CONFIG, REPO_ROOT

MASTER = {"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}


def test_no_launcher_or_a_single_process_joins_nothing():
    assert launcher_group({}) is None
    assert launcher_group({"RANK": "0", "WORLD_SIZE": "1", **MASTER}) is None
    assert launcher_group({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) is None


def test_torchrun_kubernetes_and_slurm_environments():
    torchrun = {
        "RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
        "TORCHELASTIC_RUN_ID": "job", **MASTER,
    }  # fmt: skip
    assert launcher_group(torchrun) == LauncherGroup("torchrun", 3, 4, 1, 2)
    # Kubeflow's PyTorchJob: one process per pod, no LOCAL_* variables
    assert launcher_group({"RANK": "1", "WORLD_SIZE": "2", **MASTER}) == LauncherGroup(
        "environment", 1, 2, 0, 2
    )
    slurm = {
        "SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NNODES": "2",
        **MASTER,
    }  # fmt: skip
    assert launcher_group(slurm) == LauncherGroup("slurm", 5, 8, 1, 4)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"RANK": "0", "WORLD_SIZE": "2"}, "MASTER_ADDR and MASTER_PORT is not set"),
        ({"RANK": "2", "WORLD_SIZE": "2", **MASTER}, "rank 2 (local 0) of 2"),
        ({"RANK": "0", "WORLD_SIZE": "two", **MASTER}, "WORLD_SIZE='two'"),
        (
            {"RANK": "0", "WORLD_SIZE": "3", "LOCAL_WORLD_SIZE": "2", **MASTER},
            "3 processes do not split into machines of 2",
        ),
        ({"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "MASTER_PORT": "1"}, "MASTER_ADDR is"),
    ],
)
def test_an_environment_that_cannot_be_joined_is_named(env, message):
    with pytest.raises(LaunchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        launcher_group(env)


def test_launch_under_a_launcher_refuses_more_processes(monkeypatch):
    for key, value in {"RANK": "0", "WORLD_SIZE": "2", **MASTER}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(LaunchError, match="--num-gpus 2 --num-machines 1 would start more"):
        launch(lambda: None, 2)
    with pytest.raises(LaunchError, match="--num-gpus 1 --num-machines 2"):
        launch(lambda: None, 1, num_machines=2)


def test_process_group_timeout_is_the_configs():
    assert process_group_timeout(load_any_config(DEMO_CONFIG, [])) == timedelta(minutes=30)
    cfg = load_any_config(DEMO_CONFIG, ["DDP.TIMEOUT_MINUTES", "2.5"])
    assert process_group_timeout(cfg) == timedelta(minutes=2.5)
    lazy = load_any_config(f"{REPO_ROOT}/configs/lazy/mask_rcnn_R50_NL_shapes.py", [])
    assert process_group_timeout(lazy) == timedelta(minutes=30)
    lazy.train.dist_timeout_minutes = 3
    assert process_group_timeout(lazy) == timedelta(minutes=3)
    with pytest.raises(LaunchError, match="DDP.TIMEOUT_MINUTES must be a positive number"):
        process_group_timeout(load_any_config(DEMO_CONFIG, ["DDP.TIMEOUT_MINUTES", "0.0"]))
