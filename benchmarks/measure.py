"""
What the benchmarks share: one timer, one peak-memory reading, and one set of random-weight
options for building a detection model that no checkpoint initialises.
"""

import statistics
import time

import torch

# Random weights: BN in the backbone and normalised pixels keep the activations finite (with
# FrozenBN, the identity, they grow through the residual blocks until the boxes are NaN).
RANDOM_WEIGHT_OPTS = [
    "MODEL.WEIGHTS", "",
    "MODEL.BACKBONE.FREEZE_AT", "0",
    "MODEL.RESNETS.NORM", "BN",
    "MODEL.PIXEL_STD", "[57.375, 57.12, 58.395]",
]  # fmt: skip


def sync(device):
    """Wait for ``device``'s queued work (CUDA); nothing on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def seconds(fn, device):
    """Wall seconds of one call of ``fn``, the device's queued work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def timed(fn, device, repeats, warmup=1):
    """Median seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    return statistics.median(seconds(fn, device) for _ in range(repeats))


def peak_memory(fn, device):
    """Peak allocated bytes during ``fn`` on CUDA; None on the CPU, where bench_nonlocal.py
    reads the process's peak resident memory in a child process instead."""
    if torch.device(device).type != "cuda":
        fn()
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base
