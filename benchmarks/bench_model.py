#!/usr/bin/env python
"""
Mask R-CNN R50-FPN inference with and without the paper's single res4 NL block (subsampling on):
latency split into backbone and heads, FLOPs (fvcore multiply-adds) and parameters, same run.

    python benchmarks/bench_model.py               # CPU, 800 x 1216, median of 5
    python benchmarks/bench_model.py --device cuda --repeats 20

Both models share every weight (the NL model loads the baseline's), and the NL block is the
identity at initialisation, so their heads see the same detections: the difference in time is
the block's. Runs alternate between the two models so that drift affects both alike.
"""

import argparse
import os
import statistics
import sys

import torch
from measure import RANDOM_WEIGHT_OPTS, seconds

from detectron2.modeling import build_model

from nl_detectron.analysis import flop_count, num_parameters
from nl_detectron.config import load_config

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(config, device):
    opts = ["MODEL.DEVICE", device, *RANDOM_WEIGHT_OPTS]
    return build_model(load_config(os.path.join(REPO_ROOT, "configs", config), opts)).eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--size", nargs=2, type=int, default=[800, 1216], metavar=("H", "W"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    torch.manual_seed(0)
    models = {
        "baseline": build("mask_rcnn_R50.yaml", args.device),
        "+1 NL (res4)": build("mask_rcnn_R50_NL.yaml", args.device),
    }
    missing = models["+1 NL (res4)"].load_state_dict(models["baseline"].state_dict(), strict=False)
    assert not missing.unexpected_keys and all(".nonlocal" in k for k in missing.missing_keys)
    h, w = args.size
    image = torch.randint(0, 256, (3, h, w), dtype=torch.float32)
    inputs = [{"image": image.to(args.device), "height": h, "width": w}]

    times = {name: {"backbone": [], "total": []} for name in models}
    with torch.no_grad():
        tensors = {name: m.preprocess_image(inputs).tensor for name, m in models.items()}
        for _ in range(1 + args.repeats):  # the first round warms up
            for name, model in models.items():
                times[name]["backbone"].append(
                    seconds(lambda m=model, t=tensors[name]: m.backbone(t), args.device)
                )
                times[name]["total"].append(seconds(lambda m=model: m(inputs), args.device))
        flops = {name: flop_count(m.backbone, (tensors[name],)) for name, m in models.items()}

    nl_flops = flops["+1 NL (res4)"]
    block_flops = sum(
        v for k, v in nl_flops.by_module().items() if k.endswith("nonlocal4") and k.count(".") == 2
    )
    print(
        f"Mask R-CNN R50-FPN inference, one {h}x{w} image, median of {args.repeats}. Device: "
        f"{args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"Command: python benchmarks/bench_model.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print("| model | backbone s | heads s | total s | backbone GMACs | params (M) |")
    print("|---|---|---|---|---|---|")
    medians = {}
    for name in models:
        backbone = statistics.median(times[name]["backbone"][1:])
        total = statistics.median(times[name]["total"][1:])
        medians[name] = (backbone, total)
        print(
            f"| {name} | {backbone:.3f} | {total - backbone:.3f} | {total:.3f} | "
            f"{flops[name].total() / 1e9:.1f} | {num_parameters(models[name]) / 1e6:.2f} |"
        )
    (b_base, t_base), (b_nl, t_nl) = medians["baseline"], medians["+1 NL (res4)"]
    share = block_flops / flops["baseline"].total()
    print()
    print(
        f"NL block: {block_flops / 1e9:.1f} GMACs = {100 * share:.1f}% of the baseline "
        f"backbone's; measured backbone time overhead {100 * (b_nl / b_base - 1):+.1f}% "
        f"(total {100 * (t_nl / t_base - 1):+.1f}%). Target: overhead <= FLOP share + 1 pt."
    )


if __name__ == "__main__":
    main()
