"""
Starting the training processes: by ``--num-gpus`` / ``--num-machines`` (detectron2's ``launch``)
or, when a launcher already started them, by joining the group it describes in the environment:
``torchrun`` (torch.distributed.elastic), Kubernetes jobs (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``, ``MASTER_PORT``) and SLURM's ``srun`` (``SLURM_PROCID``, ``SLURM_NTASKS``, with
``MASTER_ADDR`` and ``MASTER_PORT`` set by the job script).
"""

import logging
import os
import sys
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.multiprocessing import ProcessExitedException

from detectron2.utils import comm

from ..config import is_lazy, load_any_config
from ..utils.compat import DEFAULT_TIMEOUT, set_local_process_group
from ..utils.compat import launch as spawn_launch

logger = logging.getLogger(__name__)


class LaunchError(ValueError):
    """The environment describes a process group that cannot be joined as it is."""


@dataclass(frozen=True)
class LauncherGroup:
    """One process's place in a group started by an outside launcher."""

    launcher: str  # "torchrun", "environment" or "slurm"
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int


def _int(env, key):
    try:
        return int(env[key])
    except ValueError:
        raise LaunchError(f"{key}={env[key]!r} in the environment is not an integer") from None


def launcher_group(env=None):
    """
    The group an outside launcher started this process in, read from the environment, or None
    when no launcher did (or it started a single process: nothing to join).

    Raises:
        LaunchError: the variables are inconsistent or one that joining needs is missing,
            naming it.
    """
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        launcher = "torchrun" if "TORCHELASTIC_RUN_ID" in env else "environment"
        rank, world_size = _int(env, "RANK"), _int(env, "WORLD_SIZE")
        local_rank = _int(env, "LOCAL_RANK") if "LOCAL_RANK" in env else 0
        local_world_size = (
            _int(env, "LOCAL_WORLD_SIZE") if "LOCAL_WORLD_SIZE" in env else world_size
        )
    elif "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        launcher = "slurm"
        rank, world_size = _int(env, "SLURM_PROCID"), _int(env, "SLURM_NTASKS")
        local_rank = _int(env, "SLURM_LOCALID") if "SLURM_LOCALID" in env else 0
        nodes = _int(env, "SLURM_NNODES") if "SLURM_NNODES" in env else 1
        local_world_size = world_size // max(nodes, 1)
    else:
        return None
    if world_size <= 1:
        return None
    if not 0 <= rank < world_size or not 0 <= local_rank < local_world_size:
        raise LaunchError(
            f"the environment puts this process at rank {rank} (local {local_rank}) of "
            f"{world_size} ({local_world_size} per machine): out of range"
        )
    if world_size % local_world_size:
        raise LaunchError(
            f"{world_size} processes do not split into machines of {local_world_size} each; "
            "every machine must run the same number of processes"
        )
    missing = [key for key in ("MASTER_ADDR", "MASTER_PORT") if key not in env]
    if missing:
        raise LaunchError(
            f"{launcher} started {world_size} processes but {' and '.join(missing)} "
            "is not set: export the address and a free port of the rank-0 machine"
        )
    return LauncherGroup(launcher, rank, world_size, local_rank, local_world_size)


def launch(
    main_func,
    num_gpus,
    *,
    num_machines=1,
    machine_rank=0,
    dist_url=None,
    args=(),
    timeout=DEFAULT_TIMEOUT,
):
    """
    Run ``main_func(*args)`` in every process of the training: in the group an outside launcher
    started (``launcher_group``), or in the processes ``--num-gpus`` x ``--num-machines`` spawn.
    Under a launcher, ``--num-gpus`` and ``--num-machines`` must stay 1: the launcher decides.
    ``timeout`` (timedelta): how long a process waits for the others before it fails.
    """
    group = launcher_group()
    if group is None:
        spawn_launch(
            main_func,
            num_gpus,
            num_machines=num_machines,
            machine_rank=machine_rank,
            dist_url=dist_url,
            args=args,
            timeout=timeout,
        )
        return
    if num_gpus != 1 or num_machines != 1:
        raise LaunchError(
            f"{group.launcher} started this process as rank {group.rank} of {group.world_size}; "
            f"--num-gpus {num_gpus} --num-machines {num_machines} would start more: leave both "
            "at 1 and give the launcher the number of processes (torchrun --nproc_per_node N)"
        )
    join_group(group, timeout)
    main_func(*args)


def launch_from_args(main_func, args):
    """
    ``launch`` with a tool's ``--num-gpus``, ``--num-machines``, ``--machine-rank`` and
    ``--dist-url``; an environment that cannot be joined ends the process with status 2 and
    the reason. A spawned process that dies (killed, out of memory) stops the others at once,
    and ends the tool with status 1 and an error naming its rank. A group that torchrun
    restarted (after a worker was lost) resumes from its last checkpoint, as ``--resume`` does.
    """
    restarts = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)
    if restarts and not args.resume:
        print(f"torchrun restart {restarts}: resuming from the last checkpoint", file=sys.stderr)
        args.resume = True
    try:
        launch(
            main_func,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
            timeout=process_group_timeout(load_any_config(args.config_file, args.opts)),
        )
    except LaunchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except ProcessExitedException as e:
        rank = args.machine_rank * args.num_gpus + e.error_index
        how = f"was killed by {e.signal_name}" if e.signal_name else f"exited with {e.exit_code}"
        print(
            f"error: training process {e.error_index} of this machine (rank {rank}, pid "
            f"{e.error_pid}) {how}; the other processes were stopped. Continue the training "
            "from its last checkpoint with --resume.",
            file=sys.stderr,
        )
        sys.exit(1)


def process_group_timeout(cfg):
    """``DDP.TIMEOUT_MINUTES`` of a YAML config, or ``train.dist_timeout_minutes`` of a Python one
    (30 where it has none), as a timedelta."""
    if is_lazy(cfg):
        minutes = cfg.train.get("dist_timeout_minutes", DEFAULT_TIMEOUT.total_seconds() / 60)
        key = "train.dist_timeout_minutes"
    else:
        minutes, key = cfg.DDP.TIMEOUT_MINUTES, "DDP.TIMEOUT_MINUTES"
    if not minutes > 0:
        raise LaunchError(f"{key} must be a positive number of minutes, got {minutes!r}")
    return timedelta(minutes=minutes)


def join_group(group, timeout=DEFAULT_TIMEOUT):
    """Join ``group`` (NCCL on GPUs, gloo on CPU) and set detectron2's machine-local group."""
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(group.local_rank)
    # The launcher's store outlives a restart of the group: keys of each attempt under their own
    # prefix, or a restarted rank could read the address of a process of the attempt before.
    store, _, _ = next(dist.rendezvous("env://", group.rank, group.world_size, timeout=timeout))
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    dist.init_process_group(
        backend="nccl" if cuda else "gloo",
        store=dist.PrefixStore(f"nl_detectron/attempt_{attempt}", store),
        rank=group.rank,
        world_size=group.world_size,
        timeout=timeout,
    )
    set_local_process_group(group.world_size // group.local_world_size, group.local_world_size)
    comm.synchronize()
    logger.info(
        f"joined the {group.launcher} group: rank {group.rank} of {group.world_size} "
        f"(local rank {group.local_rank} of {group.local_world_size})"
    )
