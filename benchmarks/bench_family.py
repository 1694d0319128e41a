#!/usr/bin/env python
"""
The cost of each block of the non-local family at res4 of an 800 x 1216 image (1024 channels, a
50 x 76 map, batch 1): parameters, multiply-adds (fvcore, SDPA counted), forward time and peak
memory, forward and forward + backward:

    python benchmarks/bench_family.py
    python benchmarks/bench_family.py --device cuda --repeats 10

Each block runs in a fresh process, so that its peak memory is its own: on CPU the growth of the
process's peak resident memory over the first run, on CUDA the peak of allocated memory. Times are
medians of --repeats runs after that first one. The blocks are those of MODEL.NONLOCAL.BLOCK with
its defaults (NL and DNL: subsampling, GN; GC: r16, and r4).
"""

import argparse
import json
import statistics
import subprocess
import sys

from bench_nonlocal import measure  # benchmarks/, the script's folder

CHANNELS, HEIGHT, WIDTH = 1024, 50, 76
BLOCKS = {  # name: build_block arguments
    "NL": {"block": "nonlocal"},
    "SNL": {"block": "simplified"},
    "GC r16": {"block": "gc", "gc_ratio": 16},
    "GC r4": {"block": "gc", "gc_ratio": 4},
    "DNL": {"block": "disentangled"},
}
PASSES = ("forward", "forward_backward")


def run_cell(name, pass_, device, repeats):
    """Runs in the child process; returns the cell's measurements."""
    import torch

    from nl_detectron.analysis import flop_count, num_parameters
    from nl_detectron.layers import build_block

    torch.manual_seed(0)
    block = build_block(CHANNELS, **BLOCKS[name]).to(device)
    backward = pass_ == "forward_backward"
    x = torch.randn(1, CHANNELS, HEIGHT, WIDTH, device=device, requires_grad=backward)

    def step():
        with torch.set_grad_enabled(backward):
            z = block(x)
            if backward:
                z.sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()

    _, peak, times = measure(step, device, repeats)
    with torch.no_grad():
        macs = flop_count(block.eval(), (x.detach(),)).unsupported_ops_warnings(False)
        macs = macs.uncalled_modules_warnings(False).total()
    return {
        "params": num_parameters(block),
        "gmacs": macs / 1e9,
        "time_ms": statistics.median(times) * 1e3,
        "peak_mib": peak / 2**20,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cell", nargs=2, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    if args.cell:
        print(json.dumps(run_cell(*args.cell, args.device, args.repeats)))
        return
    print(f"{CHANNELS} x {HEIGHT} x {WIDTH} (res4 of 800 x 1216), batch 1, {args.device}\n")
    print("| block | params (M) | GMACs | forward ms | forward MiB | fwd+bwd ms | fwd+bwd MiB |")
    print("|---|---|---|---|---|---|---|")
    for name in BLOCKS:
        cells = {}
        for pass_ in PASSES:
            command = [sys.executable, __file__, "--cell", name, pass_, "--device", args.device]
            command += ["--repeats", str(args.repeats)]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            cells[pass_] = json.loads(out.strip().splitlines()[-1])
        f, b = cells["forward"], cells["forward_backward"]
        print(
            f"| {name} | {f['params'] / 1e6:.3f} | {f['gmacs']:.3f} | {f['time_ms']:.1f} | "
            f"{f['peak_mib']:.0f} | {b['time_ms']:.1f} | {b['peak_mib']:.0f} |"
        )


if __name__ == "__main__":
    main()
