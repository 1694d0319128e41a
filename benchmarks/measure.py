"""
What the benchmarks share: one timer, paired timing of two callables with a confidence interval,
exact peak memory, and one set of random-weight options for building a detection model that no
checkpoint initialises.
"""

import math
import os
import statistics
import time

import torch
from torch.profiler import ProfilerActivity, profile

# Random weights: BN in the backbone and normalised pixels keep the activations finite (with
# FrozenBN, the identity, they grow through the residual blocks until the boxes are NaN).
RANDOM_WEIGHT_OPTS = [
    "MODEL.WEIGHTS", "",
    "MODEL.BACKBONE.FREEZE_AT", "0",
    "MODEL.RESNETS.NORM", "BN",
    "MODEL.PIXEL_STD", "[57.375, 57.12, 58.395]",
]  # fmt: skip


def config_path(config):
    """The path of ``configs/<config>`` in this checkout."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(repo, "configs", config)


def random_weight_config(config, device):
    """``configs/<config>`` on ``device`` with ``RANDOM_WEIGHT_OPTS``."""
    from nl_detectron.config import load_config

    return load_config(config_path(config), ["MODEL.DEVICE", device, *RANDOM_WEIGHT_OPTS])


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


def median_ci(values, confidence=0.95):
    """
    The median of ``values`` and a distribution-free confidence interval for it: the order
    statistics x_(k) and x_(n+1-k) with the largest k for which Binomial(n, 1/2) puts at most
    (1 - confidence) / 2 below k (the sign test's interval; n >= 6 for 95%).

    Returns:
        (median, low, high)
    """
    xs = sorted(values)
    n = len(xs)
    tail, k = 0.0, 0
    while True:
        tail += math.comb(n, k) / 2**n  # P(X <= k)
        if tail > (1 - confidence) / 2:
            break
        k += 1
    if k == 0:
        raise ValueError(f"{n} values are too few for a {confidence:.0%} interval of the median")
    return statistics.median(xs), xs[k - 1], xs[n - k]


def paired_ratio(fn_a, fn_b, device, pairs=15, warmup=1):
    """
    Time ``fn_a`` and ``fn_b`` alternately, ``pairs`` times, the order inside a pair alternating
    too (AB, BA, AB, ...), so that a slow stretch of the machine falls on both and neither always
    runs second.

    Returns:
        dict: ``a_s``, ``b_s`` (median seconds), ``ratio`` (the median of the per-pair t_b / t_a),
        ``low``, ``high`` (its 95% interval, ``median_ci``), ``ratios`` (every pair's).
    """
    for _ in range(warmup):
        fn_a()
        fn_b()
    times_a, times_b = [], []
    for i in range(pairs):
        first, second = ((fn_a, times_a), (fn_b, times_b))[:: 1 if i % 2 == 0 else -1]
        for fn, times in (first, second):
            times.append(seconds(fn, device))
    ratios = [b / a for a, b in zip(times_a, times_b)]
    ratio, low, high = median_ci(ratios)
    return {
        "a_s": statistics.median(times_a),
        "b_s": statistics.median(times_b),
        "ratio": ratio,
        "low": low,
        "high": high,
        "ratios": ratios,
    }


def gemm_flops_per_second(device, n=4096, repeats=5):
    """This device's float32 matrix-multiply throughput at the current threads: 2 n^3 over the
    median time of an (n, n) @ (n, n) product; the limit a convolution network's FLOP rate is set
    against."""
    a, b = (torch.randn(n, n, device=device) for _ in range(2))
    return 2 * n**3 / timed(lambda: a @ b, device, repeats)


def verdict(low, high, target=1.0):
    """ "above", "below" or "tie": where an interval [low, high] lies against ``target``."""
    return "above" if low > target else "below" if high < target else "tie"


def peak_live_bytes(fn):
    """
    The peak of the bytes that tensors allocated during ``fn`` on the CPU hold at once (above
    what was live before it): the running sum of the allocator's allocations and frees, as the
    profiler records them. It is the same on every run, unlike the growth of the process's peak
    resident memory, which moved by up to 60% between three runs of one cell.
    """
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted(
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]"
    )
    live = peak = 0
    for _, change in events:
        live += change
        peak = max(peak, live)
    return peak


def peak_memory(fn, device):
    """Peak bytes that tensors allocated during ``fn`` hold at once: on CUDA the allocator's peak
    above what was allocated before, on the CPU ``peak_live_bytes``."""
    if torch.device(device).type != "cuda":
        return peak_live_bytes(fn)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base
