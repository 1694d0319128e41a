#!/usr/bin/env python
"""
The cost of each block of the non-local family at res4 of an 800 x 1216 image (1024 channels, a
50 x 76 map, batch 1): parameters, multiply-adds (fvcore, SDPA counted), forward time paired
against the R50-FPN baseline backbone's forward on the whole image, exact peak memory, forward
and forward + backward; with ``--compiled``, each block compiled (``torch.compile``, inductor)
paired against itself in eager mode:

    python benchmarks/bench_family.py
    python benchmarks/bench_family.py --compiled --blocks NL SNL
    python benchmarks/bench_family.py --device cuda --pairs 30

Times are medians; ratios are medians of per-pair ratios with their 95% interval
(``measure.paired_ratio``). Memory is the peak of the bytes a pass's tensors hold at once
(``measure.peak_memory``). The blocks are those of MODEL.NONLOCAL.BLOCK with its defaults (NL and
DNL: subsampling, GN; GC: r16, and r4).
"""

import argparse
import sys

import torch
from measure import paired_ratio, peak_memory, random_weight_config, timed

from detectron2.modeling import build_backbone

from nl_detectron.analysis import flop_count, num_parameters
from nl_detectron.layers import build_block

CHANNELS, HEIGHT, WIDTH = 1024, 50, 76
IMAGE = (800, 1216)
# name: build_block arguments; NL and DNL with the norm of the cost table in docs/family.md
GN_SCALE_1 = {"norm": "GN", "norm_init_scale": 1.0}
BLOCKS = {
    "NL": {"block": "nonlocal", **GN_SCALE_1},
    "SNL": {"block": "simplified"},
    "GC r16": {"block": "gc", "gc_ratio": 16},
    "GC r4": {"block": "gc", "gc_ratio": 4},
    "DNL": {"block": "disentangled", **GN_SCALE_1},
}


def passes(block, x):
    """The block's forward (no grad) and forward + backward, as callables."""

    def forward():
        with torch.no_grad():
            block(x)

    def forward_backward():
        block(x).sum().backward()

    return forward, forward_backward


def ratio_cell(r):
    return f"{r['ratio']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--pairs", type=int, default=10, help="timed pairs per ratio (>= 6)")
    parser.add_argument("--compiled", action="store_true", help="compiled against eager")
    parser.add_argument("--blocks", nargs="+", default=list(BLOCKS), choices=BLOCKS)
    args = parser.parse_args()
    device = args.device

    torch.manual_seed(0)
    backbone = build_backbone(random_weight_config("mask_rcnn_R50.yaml", device)).to(device).eval()
    image = torch.randn(1, 3, *IMAGE, device=device)

    def backbone_forward():
        with torch.no_grad():
            backbone(image)

    x = torch.randn(1, CHANNELS, HEIGHT, WIDTH, device=device, requires_grad=True)
    print(
        f"{CHANNELS} x {HEIGHT} x {WIDTH} (res4 of {IMAGE[0]} x {IMAGE[1]}), batch 1, "
        f"{args.pairs} pairs per ratio. Device: {device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"Command: python benchmarks/bench_family.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    if args.compiled:
        print("| block | compiled / eager forward, 95% CI | compiled / eager fwd+bwd, 95% CI |")
        print("|---|---|---|")
    else:
        print(
            "| block | params (M) | GMACs | forward ms | forward / baseline backbone, 95% CI "
            "| forward MiB | fwd+bwd ms | fwd+bwd MiB |"
        )
        print("|---|---|---|---|---|---|---|---|")
    for name in args.blocks:
        torch.manual_seed(0)
        block = build_block(CHANNELS, **BLOCKS[name]).to(device)
        forward, forward_backward = passes(block, x)
        if args.compiled:
            compiled = passes(torch.compile(block), x)
            cells = [
                paired_ratio(eager, fast, device, pairs=args.pairs, warmup=2)
                for eager, fast in zip((forward, forward_backward), compiled)
            ]
            print(f"| {name} | {ratio_cell(cells[0])} | {ratio_cell(cells[1])} |")
            continue
        against = paired_ratio(backbone_forward, forward, device, pairs=args.pairs)
        with torch.no_grad():
            macs = flop_count(block.eval(), (x.detach(),)).total()
        block.train()
        print(
            f"| {name} | {num_parameters(block) / 1e6:.3f} | {macs / 1e9:.3f} | "
            f"{against['b_s'] * 1e3:.1f} | {ratio_cell(against)} | "
            f"{peak_memory(forward, device) / 2**20:.0f} | "
            f"{timed(forward_backward, device, args.pairs) * 1e3:.1f} | "
            f"{peak_memory(forward_backward, device) / 2**20:.0f} |"
        )
    if not args.compiled:
        print()
        print(
            f"The R50-FPN baseline backbone's forward on the {IMAGE[0]} x {IMAGE[1]} image: "
            f"{against['a_s']:.3f} s (median of the last block's pairs), "
            f"{peak_memory(backbone_forward, device) / 2**20:.0f} MiB at its peak."
        )


if __name__ == "__main__":
    main()
