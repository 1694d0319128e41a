#!/usr/bin/env python
"""
How far the NL block and the R50-FPN backbone are from this device's matrix-multiply limit: the
float32 GEMM throughput at the same threads, and for the block (the default embedded Gaussian,
subsampling, batch 1, forward) at res3, res4 and res5 of an 800 x 1216 image and for the
baseline backbone on that image, FLOP/s reached and its fraction of the limit; for the block,
per part (the profiler's self time of each op, fvcore's multiply-adds of each):

    python benchmarks/bench_limit.py
"""

import argparse
import sys
from collections import defaultdict

import torch
from bench_nonlocal import FEATURE_MAPS  # benchmarks/, the script's folder
from measure import gemm_flops_per_second, random_weight_config, timed
from torch.profiler import ProfilerActivity, profile

from detectron2.modeling import build_backbone

from nl_detectron.analysis import flop_count
from nl_detectron.layers import NonLocalBlock2d

# The block's parts: a word in the names of the aten ops (profiler) that compute each, and the
# fvcore operators that count its multiply-adds.
PARTS = {
    "1x1 convs (theta, phi, g, W_z)": (("conv",), ("conv",)),
    "pairwise operation": (
        ("scaled_dot_product", "bmm", "softmax", "matmul"),
        ("scaled_dot_product_attention", "matmul", "bmm"),
    ),
    "max pooling": (("max_pool",), ()),
    "layout copies (contiguous)": (("copy_", "clone"), ()),
}
REST = "norm, residual add, the rest"


def part_of(op):
    for part, (words, _) in PARTS.items():
        if any(word in op for word in words):
            return part
    return REST


def profile_parts(fn, repeats):
    """Self time (s) per part, averaged over ``repeats`` calls of ``fn``."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            fn()
    times = defaultdict(float)
    for event in prof.key_averages():
        times[part_of(event.key)] += event.self_cpu_time_total / 1e6 / repeats
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--maps", nargs="+", default=["res5", "res4", "res3"], choices=FEATURE_MAPS)
    args = parser.parse_args()

    gemm = gemm_flops_per_second("cpu")
    print(
        f"Forward, float32, CPU, {torch.get_num_threads()} threads, torch {torch.__version__}. "
        f"GEMM limit: {gemm / 1e9:.0f} GFLOP/s (a 4096 x 4096 @ 4096 x 4096 product)."
    )
    print(f"Command: python benchmarks/bench_limit.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print("| what | part | share of its time | GMACs | ms | GFLOP/s | of the GEMM limit |")
    print("|---|---|---|---|---|---|---|")

    def line(what, part, share, macs, seconds):
        rate = 2 * macs / seconds if seconds else 0
        reached = f"{rate / gemm:.0%}" if macs else "- (no multiply-adds)"
        print(
            f"| {what} | {part} | {share:.0%} | {macs / 1e9:.2f} | {seconds * 1e3:,.1f} | "
            f"{rate / 1e9:,.0f} | {reached} |"
        )

    torch.manual_seed(0)
    with torch.no_grad():
        for name in args.maps:
            c, h, w = FEATURE_MAPS[name]
            block = NonLocalBlock2d(c, norm="").eval()
            x = torch.randn(1, c, h, w)
            by_operator = flop_count(block, (x,)).by_operator()
            total = timed(lambda b=block, x=x: b(x), "cpu", args.repeats)
            parts = profile_parts(lambda b=block, x=x: b(x), args.repeats)
            what = f"NL block, {name} ({c}, {h}x{w})"
            line(what, "whole block", 1.0, sum(by_operator.values()), total)
            profiled = sum(parts.values())
            for part in (*PARTS, REST):
                macs = sum(by_operator.get(op, 0) for op in PARTS.get(part, ((), ()))[1])
                # the profiled self times, scaled to the timed total
                line(what, part, parts[part] / profiled, macs, parts[part] / profiled * total)

        backbone = build_backbone(random_weight_config("mask_rcnn_R50.yaml", "cpu")).eval()
        image = torch.randn(1, 3, 800, 1216)
        macs = flop_count(backbone, (image,)).total()
        line(
            "R50-FPN baseline backbone, 800x1216",
            "whole",
            1.0,
            macs,
            timed(lambda: backbone(image), "cpu", args.repeats),
        )


if __name__ == "__main__":
    main()
