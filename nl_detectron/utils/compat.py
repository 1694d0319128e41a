"""
Where detectron2 v0.6 and upstream main (or a build without C++ ops) differ, and every use of a
detectron2 name that is not public API, in one place. ``tests/utils/test_compat.py`` fails when
detectron2 changes any of them.
"""

from functools import lru_cache

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from detectron2.data.build import _train_loader_from_config
from detectron2.engine import DefaultTrainer
from detectron2.engine import launch as detectron2_launch
from detectron2.engine.launch import DEFAULT_TIMEOUT, _find_free_port
from detectron2.utils import comm

# v0.6's DefaultTrainer leaves its SimpleTrainer's state (the optimizer's momentum) out of
# checkpoints; main saves and loads it as "_trainer".
DEFAULT_TRAINER_SAVES_OPTIMIZER = "state_dict" in vars(DefaultTrainer)


# main's launch() runs its processes on gloo where there is no CUDA; v0.6's asserts CUDA. Main
# also has comm.create_local_process_group, which v0.6 lacks: the one sign of the two versions.
LAUNCH_FALLS_BACK_TO_GLOO = hasattr(comm, "create_local_process_group")


def launch(
    main_func,
    num_processes_per_machine,
    num_machines=1,
    machine_rank=0,
    dist_url=None,
    args=(),
    timeout=DEFAULT_TIMEOUT,
):
    """
    detectron2's ``launch`` (same arguments), which on v0.6 without CUDA starts the processes on
    gloo, as main's does, instead of failing on ``assert torch.cuda.is_available()``.
    """
    world_size = num_machines * num_processes_per_machine
    if world_size == 1 or LAUNCH_FALLS_BACK_TO_GLOO or torch.cuda.is_available():
        detectron2_launch(
            main_func,
            num_processes_per_machine,
            num_machines=num_machines,
            machine_rank=machine_rank,
            dist_url=dist_url,
            args=args,
            timeout=timeout,
        )
        return
    if dist_url == "auto":
        assert num_machines == 1, "dist_url=auto not supported in multi-machine jobs."
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    mp.start_processes(
        _gloo_worker,
        nprocs=num_processes_per_machine,
        args=(
            main_func,
            world_size,
            num_processes_per_machine,
            machine_rank,
            dist_url,
            args,
            timeout,
        ),
        daemon=False,
    )


def _gloo_worker(
    local_rank,
    main_func,
    world_size,
    num_processes_per_machine,
    machine_rank,
    dist_url,
    args,
    timeout,
):
    """One process of ``launch`` on v0.6 without CUDA: v0.6's worker, on gloo."""
    dist.init_process_group(
        backend="gloo",
        init_method=dist_url,
        world_size=world_size,
        rank=machine_rank * num_processes_per_machine + local_rank,
        timeout=timeout,
    )
    set_local_process_group(world_size // num_processes_per_machine, num_processes_per_machine)
    comm.synchronize()
    main_func(*args)


def set_local_process_group(num_machines, num_processes_per_machine):
    """
    Create detectron2's group of this machine's processes, which ``comm.get_local_rank()`` reads:
    main's ``comm.create_local_process_group``, or v0.6's ``comm._LOCAL_PROCESS_GROUP`` (ranks
    numbered machine by machine). Every process of the group calls it, after
    ``init_process_group``.
    """
    if hasattr(comm, "create_local_process_group"):
        comm.create_local_process_group(num_processes_per_machine)
        return
    machine_rank = dist.get_rank() // num_processes_per_machine
    for i in range(num_machines):
        first = i * num_processes_per_machine
        group = dist.new_group(list(range(first, first + num_processes_per_machine)))
        if i == machine_rank:
            comm._LOCAL_PROCESS_GROUP = group


@lru_cache(maxsize=None)
def has_fast_coco_eval():
    """Whether detectron2's C++ COCOeval is there (absent in the pure-Python build of v0.6)."""
    try:
        from detectron2 import _C

        _C.COCOevalAccumulate  # noqa: B018 (the attribute is what is missing)
    except (ImportError, AttributeError, RuntimeError):
        return False
    return True


def restart_data_loader(trainer):
    """
    Make a ``SimpleTrainer`` draw from a new iterator of its data loader, from the next step on
    (v0.6 creates its iterator eagerly, main lazily).
    """
    if "_data_loader_iter_obj" in vars(trainer):
        trainer._data_loader_iter_obj = None
    else:
        trainer._data_loader_iter = iter(trainer.data_loader)


def train_loader_kwargs(cfg, mapper):
    """The keyword arguments ``build_detection_train_loader(cfg)`` would use, with ``mapper``."""
    return _train_loader_from_config(cfg, mapper=mapper)


def training_sampler_args(sampler):
    """``(size, shuffle, seed)`` a ``TrainingSampler`` was built with."""
    return sampler._size, sampler._shuffle, sampler._seed


def sampler_shard(sampler):
    """
    A ``TrainingSampler``'s infinite index stream (before sharding), this process's rank and the
    number of ranks: the rank takes every ``world_size``-th index from ``rank`` on.
    """
    return sampler._infinite_indices(), sampler._rank, sampler._world_size


def replace_resnet_stage(resnet, name, stage):
    """Put ``stage`` in place of ``resnet``'s stage ``name``, where ``forward`` will run it
    (detectron2's ``ResNet`` runs the list ``stages``, beside the registered modules)."""
    setattr(resnet, name, stage)
    resnet.stages[resnet.stage_names.index(name)] = stage
