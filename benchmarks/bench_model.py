#!/usr/bin/env python
"""
Mask R-CNN R50-FPN with and without the paper's single res4 NL block (subsampling on), paired:
the backbone, the whole inference and one training step, each timed alternately against the
baseline twin (``measure.paired_ratio``), with the block's share of the backbone's multiply-adds
and the fraction of this device's matrix-multiply throughput the backbones reach.

    python benchmarks/bench_model.py               # CPU, 800 x 1216, 10 pairs
    python benchmarks/bench_model.py --device cuda --pairs 30

Both models share every weight (the NL model loads the baseline's), and the NL block is the
identity at initialisation, so their heads see the same detections and the same losses: the
difference in time is the block's. The target is the issue's: overhead at most the block's FLOP
share + 1 point; "met" when the 95% interval lies under it, "missed" when above, else "unresolved".
"""

import argparse
import sys

import torch
from measure import gemm_flops_per_second, paired_ratio, random_weight_config, verdict

from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances
from detectron2.utils.events import EventStorage

from nl_detectron.analysis import flop_count, num_parameters


def build(config, device):
    return build_model(random_weight_config(config, device))


def training_inputs(h, w, device):
    """One image with two objects, boxes and masks, for a training step."""
    image = torch.randint(0, 256, (3, h, w), dtype=torch.float32, device=device)
    boxes = torch.tensor(
        [[w * 0.1, h * 0.1, w * 0.4, h * 0.5], [w * 0.5, h * 0.3, w * 0.9, h * 0.9]]
    )
    masks = torch.zeros(2, h, w, dtype=torch.bool)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes.int().tolist()):
        mask[y0:y1, x0:x1] = True
    instances = Instances(
        (h, w), gt_boxes=Boxes(boxes), gt_classes=torch.tensor([0, 1]), gt_masks=BitMasks(masks)
    )
    return [{"image": image, "height": h, "width": w, "instances": instances.to(device)}]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--size", nargs=2, type=int, default=[800, 1216], metavar=("H", "W"))
    parser.add_argument("--pairs", type=int, default=10, help="timed pairs per row (>= 6)")
    args = parser.parse_args()

    torch.manual_seed(0)
    baseline, nl = (
        build("mask_rcnn_R50.yaml", args.device),
        build("mask_rcnn_R50_NL.yaml", args.device),
    )
    missing = nl.load_state_dict(baseline.state_dict(), strict=False)
    assert not missing.unexpected_keys and all(".nonlocal" in k for k in missing.missing_keys)
    h, w = args.size
    image = torch.randint(0, 256, (3, h, w), dtype=torch.float32, device=args.device)
    inputs = [{"image": image, "height": h, "width": w}]
    batch = training_inputs(h, w, args.device)

    def inference(model):
        def run():
            with torch.no_grad():
                model(inputs)

        return run

    def backbone(model):
        tensor = model.preprocess_image(inputs).tensor

        def run():
            with torch.no_grad():
                model.backbone(tensor)

        return run

    def training_step(model):
        def run():
            model.zero_grad(set_to_none=True)
            sum(model(batch).values()).backward()

        return run

    rows = {}
    for model in (baseline, nl):
        model.eval()
    for name, make in (("backbone", backbone), ("inference", inference)):
        rows[name] = paired_ratio(make(baseline), make(nl), args.device, pairs=args.pairs)
    for model in (baseline, nl):
        model.train()
    with EventStorage():  # where detectron2's training losses log
        rows["training step"] = paired_ratio(
            training_step(baseline), training_step(nl), args.device, pairs=args.pairs
        )

    with torch.no_grad():
        tensor = baseline.eval().preprocess_image(inputs).tensor
        flops = {
            n: flop_count(m.eval().backbone, (tensor,))
            for n, m in (("baseline", baseline), ("nl", nl))
        }
    block = sum(
        v
        for k, v in flops["nl"].by_module().items()
        if k.endswith("nonlocal4") and k.count(".") == 2
    )
    share = block / flops["baseline"].total()
    target = 1 + share + 0.01
    gemm = gemm_flops_per_second(args.device)

    print(
        f"Mask R-CNN R50-FPN, NL (one res4 block) against its baseline twin, one {h}x{w} image, "
        f"{args.pairs} pairs per row. Device: {args.device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"Command: python benchmarks/bench_model.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print(f"| pass | baseline s | NL s | NL / baseline, 95% CI | target (<= {target:.3f}) |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        met = {"below": "met", "above": "missed", "tie": "unresolved"}[
            verdict(r["low"], r["high"], target)
        ]
        print(
            f"| {name} | {r['a_s']:.3f} | {r['b_s']:.3f} | {r['ratio']:.3f} "
            f"[{r['low']:.3f}, {r['high']:.3f}] | {met} |"
        )
    print()
    print("| model | backbone GMACs | params (M) | backbone GFLOP/s | of the GEMM limit |")
    print("|---|---|---|---|---|")
    for name, key, model in (("baseline", "baseline", baseline), ("NL", "nl", nl)):
        seconds = rows["backbone"]["a_s" if key == "baseline" else "b_s"]
        rate = 2 * flops[key].total() / seconds
        print(
            f"| {name} | {flops[key].total() / 1e9:.1f} | {num_parameters(model) / 1e6:.2f} | "
            f"{rate / 1e9:.0f} | {rate / gemm:.0%} |"
        )
    print()
    print(
        f"The NL block: {block / 1e9:.2f} GMACs, {100 * share:.1f}% of the baseline backbone's. "
        f"GEMM limit: {gemm / 1e9:.0f} GFLOP/s (float32 matrix multiply, "
        "``measure.gemm_flops_per_second``)."
    )


if __name__ == "__main__":
    main()
