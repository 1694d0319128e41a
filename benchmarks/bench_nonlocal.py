#!/usr/bin/env python
"""
Time and peak memory of one NonLocalBlock2d (batch 2 or ``--batch``, subsampling on), ours
("bounded") against the naive formula, for each mode x feature map x (forward,
forward+backward), paired:

    python benchmarks/bench_nonlocal.py                       # everything, on CPU
    python benchmarks/bench_nonlocal.py --device cuda         # on a GPU
    python benchmarks/bench_nonlocal.py --modes dot_product --maps res3 --passes forward
    python benchmarks/bench_nonlocal.py --scope op            # the pairwise operation alone
    python benchmarks/bench_nonlocal.py --batch 1             # one image
    python benchmarks/bench_nonlocal.py --sub-sample-at embedding  # mmcv's pooling order

``--scope block`` (default) measures the whole block, its 1x1 convs and pooling included, which
both implementations share; ``--scope op`` measures only what they differ in: y = f(theta, phi) g
on given theta, phi and g of the block's shapes.

Each cell (mode x map x pass) runs in a fresh process holding both implementations with the same
weights, timed alternately (``measure.paired_ratio``): its speed-up is the median of the per-pair
ratios naive / ours with a 95% interval, and "tie" where that interval holds 1. Peak memory is
exact: the peak of live tensor bytes (CPU, ``measure.peak_live_bytes``) or of allocated bytes
(CUDA) during one pass. A naive cell whose N x N matrices cannot fit in memory is not run; its
estimated need is printed instead.
"""

import argparse
import json
import os
import platform
import subprocess
import sys

from measure import verdict  # benchmarks/, the script's folder

FEATURE_MAPS = {  # name: (channels, height, width) at an 800 x 1216 input
    "res5": (2048, 25, 38),
    "res4": (1024, 50, 76),
    "res3": (512, 100, 152),
    "res2": (256, 200, 304),
}
MODES = ("embedded_gaussian", "gaussian", "dot_product", "concatenation")
IMPLS = ("bounded", "naive")
PASSES = ("forward", "forward_backward")


def naive_bytes(mode, feature_map, pass_, batch):
    """Rough memory of the naive block's (N, L, S[, 2D]) tensors, float32."""
    c, h, w = FEATURE_MAPS[feature_map]
    pairs = batch * (h * w) * ((h // 2) * (w // 2))
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


def run_cell(mode, feature_map, pass_, device, pairs, scope, naive_fits, batch, sub_sample_at):
    """Runs in the child process; returns the cell's measurements."""
    import torch
    from measure import paired_ratio, peak_memory, timed

    from nl_detectron.layers import NonLocalBlock2d, nonlocal_bounded, nonlocal_naive
    from nl_detectron.layers.nonlocal_ops import fused_backends_accepting, softmax_backend

    torch.manual_seed(0)
    c, h, w = FEATURE_MAPS[feature_map]
    blocks = {
        impl: NonLocalBlock2d(
            c, mode=mode, sub_sample=True, sub_sample_at=sub_sample_at, impl=impl, norm=""
        ).to(device)
        for impl in IMPLS
    }
    blocks["naive"].load_state_dict(blocks["bounded"].state_dict())
    backward = pass_ == "forward_backward"
    if scope == "op":
        # Drawn directly at the block's shapes: the operation's own memory, nothing before it.
        embed_channels = c if mode == "gaussian" else blocks["bounded"].inter_channels
        queries, keys = h * w, (h // 2) * (w // 2)
        embedded = [
            torch.randn(batch, n, d, device=device, requires_grad=backward)
            for n, d in (
                (queries, embed_channels),
                (keys, embed_channels),
                (keys, blocks["bounded"].inter_channels),
            )
        ]
        ops = {"bounded": nonlocal_bounded, "naive": nonlocal_naive}
        concat_weight, scale = blocks["bounded"]._concat_weight(), blocks["bounded"].scale
        forwards = {
            impl: lambda op=op: op(*embedded, mode, concat_weight=concat_weight, scale=scale)
            for impl, op in ops.items()
        }
    else:
        x = torch.randn(batch, c, h, w, device=device, requires_grad=backward)
        forwards = {impl: lambda b=blocks[impl]: b(x) for impl in IMPLS}

    leaves = [*blocks["bounded"].parameters(), *blocks["naive"].parameters()]
    leaves += embedded if scope == "op" else [x]

    def step(impl):
        def run():
            with torch.set_grad_enabled(backward):
                z = forwards[impl]()
                if backward:
                    z.sum().backward()

        return run

    impls = IMPLS if naive_fits else ("bounded",)
    cell = {}
    for impl in impls:
        for t in leaves:  # each measured pass allocates its gradients, not only the first one
            t.grad = None
        cell[f"{impl}_peak_bytes"] = peak_memory(step(impl), device)
    if naive_fits:
        cell.update(paired_ratio(step("bounded"), step("naive"), device, pairs=pairs))
    else:
        cell["a_s"] = timed(step("bounded"), device, repeats=pairs)
    served = None
    if mode in ("embedded_gaussian", "gaussian"):
        with torch.set_grad_enabled(backward):
            q, k, v = embedded if scope == "op" else blocks["bounded"].embed(x)
        served = softmax_backend(q, k, v)
        if device == "cuda":
            served += f" (accepted: {fused_backends_accepting(q, k, v)})"
    cell["softmax_path"] = served
    return cell


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


def mib(n):
    return f"{n / 2**20:,.0f}"


def row(feature_map, mode, pass_, cell, need):
    """One table row: ours, naive (or its estimated need), the paired speed-up, exact memory."""
    c, h, w = FEATURE_MAPS[feature_map]
    ours_ms, ours_mib = f"{cell['a_s'] * 1e3:,.0f}", mib(cell["bounded_peak_bytes"])
    if "b_s" not in cell:
        naive = f"- | - | - | {ours_mib} | needs ~{need / 2**30:,.0f} GiB | -"
    else:
        speed_up = f"{cell['ratio']:.2f}x [{cell['low']:.2f}, {cell['high']:.2f}]"
        memory = cell["naive_peak_bytes"] / cell["bounded_peak_bytes"]
        naive = (
            f"{cell['b_s'] * 1e3:,.0f} | {speed_up} | {verdict(cell['low'], cell['high'])} | "
            f"{ours_mib} | {mib(cell['naive_peak_bytes'])} | {memory:.2f}x"
        )
    return (
        f"| {feature_map} ({c}, {h}x{w}) | {mode} | {pass_} | {ours_ms} | {naive} | "
        f"{cell.get('softmax_path') or '-'} |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--maps", nargs="+", default=list(FEATURE_MAPS), choices=FEATURE_MAPS)
    parser.add_argument("--passes", nargs="+", default=list(PASSES), choices=PASSES)
    parser.add_argument("--pairs", type=int, default=10, help="timed pairs per cell (>= 6)")
    parser.add_argument("--scope", default="block", choices=["block", "op"])
    parser.add_argument("--batch", type=int, default=2, help="images per pass")
    parser.add_argument("--sub-sample-at", default="input", choices=["input", "embedding"])
    parser.add_argument("--json", help="also write the raw measurements to this file")
    parser.add_argument("--cell", nargs=4, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()

    if args.cell:
        mode, feature_map, pass_, fits = args.cell
        cell = run_cell(
            mode,
            feature_map,
            pass_,
            args.device,
            args.pairs,
            args.scope,
            fits == "1",
            args.batch,
            args.sub_sample_at,
        )
        print(json.dumps(cell))
        return

    results = {}
    for feature_map in args.maps:
        for mode in args.modes:
            for pass_ in args.passes:
                need = naive_bytes(mode, feature_map, pass_, args.batch)
                fits = need <= 0.85 * available_bytes(args.device)
                command = [sys.executable, __file__, "--device", args.device, "--scope"]
                command += [args.scope, "--pairs", str(args.pairs), "--batch", str(args.batch)]
                command += ["--sub-sample-at", args.sub_sample_at]
                command += ["--cell", mode, feature_map, pass_, str(int(fits))]
                out = subprocess.run(command, capture_output=True, text=True)
                if out.returncode != 0:
                    sys.exit(f"cell {mode} {feature_map} {pass_} failed:\n" + out.stderr[-3000:])
                cell = json.loads(out.stdout.strip().splitlines()[-1])
                results[(feature_map, mode, pass_)] = (cell, need)
                print(f"# {feature_map} {mode} {pass_}: {cell}", file=sys.stderr, flush=True)

    what = "NonLocalBlock2d" if args.scope == "block" else "The pairwise operation alone"
    print(
        f"{what}, batch {args.batch}, pooling at the {args.sub_sample_at}, float32, "
        f"{args.pairs} pairs per cell. Device: {device_description(args.device)}"
    )
    print(f"Command: python benchmarks/bench_nonlocal.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print(
        "| map (C, HxW) | mode | pass | ours ms | naive ms | speed-up (naive / ours), 95% CI "
        "| verdict | ours MiB | naive MiB | memory ratio (naive / ours) | softmax path |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (feature_map, mode, pass_), (cell, need) in results.items():
        print(row(feature_map, mode, pass_, cell, need))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({" ".join(k): v[0] for k, v in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
