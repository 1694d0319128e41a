#!/usr/bin/env python
"""
Time and peak memory of one NonLocalBlock2d (batch 2, subsampling on), ours ("bounded") against the
naive formula, for each mode x feature map x (forward, forward+backward), in one run:

    python benchmarks/bench_nonlocal.py                       # everything, on CPU
    python benchmarks/bench_nonlocal.py --device cuda         # on a GPU
    python benchmarks/bench_nonlocal.py --modes dot_product --maps res3 --passes forward
    python benchmarks/bench_nonlocal.py --scope op            # the pairwise operation alone

``--scope block`` (default) measures the whole block, its 1x1 convs and pooling included, which
both implementations share; ``--scope op`` measures only what they differ in: y = f(theta, phi) g
on given theta, phi and g of the block's shapes.

Each cell runs in a fresh process, so that its peak memory is its own: on CPU the growth of the
process's peak resident memory over the first run, on CUDA the peak of allocated memory. Times are
medians of --repeats runs after that first one. A naive cell whose N x N matrices cannot fit in
memory is not run; its estimated need is printed instead.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys

FEATURE_MAPS = {  # name: (channels, height, width) at an 800 x 1216 input
    "res5": (2048, 25, 38),
    "res4": (1024, 50, 76),
    "res3": (512, 100, 152),
    "res2": (256, 200, 304),
}
MODES = ("embedded_gaussian", "gaussian", "dot_product", "concatenation")
IMPLS = ("bounded", "naive")
PASSES = ("forward", "forward_backward")
BATCH = 2


def naive_bytes(mode, feature_map, pass_):
    """Rough memory of the naive block's (N, L, S[, 2D]) tensors, float32."""
    c, h, w = FEATURE_MAPS[feature_map]
    pairs = BATCH * (h * w) * ((h // 2) * (w // 2))
    copies = 3 if pass_ == "forward" else 6
    if mode == "concatenation":
        return pairs * c * 4 * copies // 2  # [theta_i, phi_j]: 2 * C/2 channels per pair
    return pairs * 4 * copies


def available_bytes(device):
    if device == "cuda":
        import torch

        return torch.cuda.mem_get_info()[0]
    with open("/proc/meminfo") as f:
        info = dict(line.split(":") for line in f)
    return int(info["MemAvailable"].split()[0]) * 1024


def measure(step, device, repeats):
    """
    Run ``step`` once, then ``repeats`` times. Returns: the first run's seconds, the peak memory
    it added in bytes (CPU: the growth of the process's peak resident memory; CUDA: the peak of
    allocated memory), and the later runs' seconds.
    """
    import torch
    from measure import seconds

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    first = seconds(step, device)
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() - before
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    times = [seconds(step, device) for _ in range(repeats)]
    return first, peak, times


def run_cell(mode, impl, feature_map, pass_, device, repeats, scope):
    """Runs in the child process; returns the cell's measurements."""
    import torch

    from nl_detectron.layers import NonLocalBlock2d, nonlocal_bounded, nonlocal_naive
    from nl_detectron.layers.nonlocal_ops import fused_backends_accepting, softmax_backend

    torch.manual_seed(0)
    c, h, w = FEATURE_MAPS[feature_map]
    block = NonLocalBlock2d(c, mode=mode, sub_sample=True, impl=impl).to(device)
    backward = pass_ == "forward_backward"
    if scope == "op":
        # Drawn directly at the block's shapes: computing them with the block would raise the
        # process's peak memory above what the operation alone needs, hiding it.
        embed_channels = c if mode == "gaussian" else block.inter_channels
        queries, keys = h * w, (h // 2) * (w // 2)
        embedded = [
            torch.randn(BATCH, n, d, device=device, requires_grad=backward)
            for n, d in (
                (queries, embed_channels),
                (keys, embed_channels),
                (keys, block.inter_channels),
            )
        ]
        op = nonlocal_bounded if impl == "bounded" else nonlocal_naive

        def forward():
            return op(*embedded, mode, concat_weight=block._concat_weight(), scale=block.scale)
    else:
        x = torch.randn(BATCH, c, h, w, device=device, requires_grad=backward)

        def forward():
            return block(x)

    def step():
        with torch.set_grad_enabled(backward):
            z = forward()
            if backward:
                z.sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()

    first, peak, times = measure(step, device, repeats)
    served = None
    if impl == "bounded" and mode in ("embedded_gaussian", "gaussian"):
        with torch.set_grad_enabled(backward):
            q, k, v = embedded if scope == "op" else block.embed(x)
        served = softmax_backend(q, k, v)
        if device == "cuda":
            served += f" (accepted: {fused_backends_accepting(q, k, v)})"
    return {
        "time_s": statistics.median(times) if times else first,
        "peak_bytes": peak,
        "softmax_path": served,
    }


def device_description(device):
    import torch

    if device == "cuda":
        return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    model = platform.processor() or "CPU"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        model = names[0] if names else model
    return f"{model}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def fmt_time(cell):
    return "-" if "skipped" in cell else f"{cell['time_s'] * 1000:,.0f}"


def fmt_mem(cell):
    if "skipped" in cell:
        return f"needs ~{cell['skipped'] / 2**30:,.0f} GiB"
    return f"{cell['peak_bytes'] / 2**20:,.0f}"


def ratio(a, b, key):
    if "skipped" in a or "skipped" in b or not a[key]:
        return "-"
    return f"{b[key] / a[key]:.1f}x"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--maps", nargs="+", default=list(FEATURE_MAPS), choices=FEATURE_MAPS)
    parser.add_argument("--passes", nargs="+", default=list(PASSES), choices=PASSES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scope", default="block", choices=["block", "op"])
    parser.add_argument("--json", help="also write the raw measurements to this file")
    parser.add_argument("--cell", nargs=4, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()

    if args.cell:
        print(json.dumps(run_cell(*args.cell, args.device, args.repeats, args.scope)))
        return

    results = {}
    for feature_map in args.maps:
        for mode in args.modes:
            for pass_ in args.passes:
                for impl in IMPLS:
                    need = naive_bytes(mode, feature_map, pass_)
                    if impl == "naive" and need > 0.85 * available_bytes(args.device):
                        cell = {"skipped": need}
                    else:
                        out = subprocess.run(
                            [
                                sys.executable,
                                __file__,
                                "--device",
                                args.device,
                                "--repeats",
                                str(args.repeats),
                                "--scope",
                                args.scope,
                                "--cell",
                                mode,
                                impl,
                                feature_map,
                                pass_,
                            ],
                            capture_output=True,
                            text=True,
                        )
                        if out.returncode != 0:
                            sys.exit(
                                f"cell {mode} {impl} {feature_map} {pass_} failed:\n"
                                + out.stderr[-3000:]
                            )
                        cell = json.loads(out.stdout.strip().splitlines()[-1])
                    results[(feature_map, mode, pass_, impl)] = cell
                    print(
                        f"# {feature_map} {mode} {pass_} {impl}: {cell}",
                        file=sys.stderr,
                        flush=True,
                    )

    what = "NonLocalBlock2d" if args.scope == "block" else "The pairwise operation alone"
    print(
        f"{what}, batch {BATCH}, sub_sample=True, float32. Device: "
        f"{device_description(args.device)}"
    )
    print(f"Command: python benchmarks/bench_nonlocal.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print(
        "| map (C, HxW) | mode | pass | ours ms | naive ms | speed-up | ours MiB | naive MiB "
        "| memory ratio | softmax path |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for feature_map in args.maps:
        c, h, w = FEATURE_MAPS[feature_map]
        for mode in args.modes:
            for pass_ in args.passes:
                ours = results[(feature_map, mode, pass_, "bounded")]
                naive = results[(feature_map, mode, pass_, "naive")]
                print(
                    f"| {feature_map} ({c}, {h}x{w}) | {mode} | {pass_} | {fmt_time(ours)} | "
                    f"{fmt_time(naive)} | {ratio(ours, naive, 'time_s')} | {fmt_mem(ours)} | "
                    f"{fmt_mem(naive)} | {ratio(ours, naive, 'peak_bytes')} | "
                    f"{ours.get('softmax_path') or '-'} |"
                )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({" ".join(k): v for k, v in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
