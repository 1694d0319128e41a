#!/usr/bin/env python
"""
Training throughput of the CPU demos against their baseline twins, paired: one training step of
the baseline and one of the NL model, alternately (``measure.paired_ratio``), on the same batches
from the config's own training loader, with its own optimizer (gradient clipping included).

    python benchmarks/bench_train.py                                   # the fast and R50 demos
    python benchmarks/bench_train.py --configs demo/mask_rcnn_R18_GC_fast.yaml --pairs 40

Both models start from the same weights (the NL model loads the baseline's; its blocks are the
identity at initialisation). The ratio is the median of the per-pair NL / baseline step times,
with its 95% interval; iterations per second are the medians' inverses.
"""

import argparse
import sys

import torch
from measure import config_path, paired_ratio

from detectron2.data import build_detection_train_loader
from detectron2.engine import DefaultTrainer
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from nl_detectron.config import load_config
from nl_detectron.twins import compare_with_baseline, twin_configs

CONFIGS = ("demo/mask_rcnn_R18_NL_fast.yaml", "demo/mask_rcnn_R50_NL_shapes.yaml")


def training_step(model, optimizer, batches):
    """One step of detectron2's SimpleTrainer on the next batch of ``batches``, as a callable."""

    def run():
        losses = sum(model(next(batches)).values())
        optimizer.zero_grad()
        losses.backward()
        optimizer.step()

    return run


def measure(config, pairs, device):
    """The paired step times of ``configs/<config>`` and its twin, and the blocks' FLOP share."""
    cfg = load_config(config_path(config), ["MODEL.DEVICE", device])
    torch.manual_seed(0)
    configs = twin_configs(cfg)
    models = {name: build_model(c).train() for name, c in configs.items()}
    missing = models["NL"].load_state_dict(models["baseline"].state_dict(), strict=False)
    assert not missing.unexpected_keys
    # The same batches for both: each model reads its own pass over one list.
    loader = iter(build_detection_train_loader(cfg))
    batches = [next(loader) for _ in range(pairs + 1)]  # + the warm-up step
    steps = {
        name: training_step(
            model, DefaultTrainer.build_optimizer(configs[name], model), iter(batches)
        )
        for name, model in models.items()
    }
    with EventStorage():  # where detectron2's training losses log
        result = paired_ratio(steps["baseline"], steps["NL"], device, pairs=pairs)
    size = cfg.INPUT.MAX_SIZE_TRAIN
    flops = compare_with_baseline(cfg, size, size)
    result["share"] = flops["NL"]["nl_flops"] / flops["baseline"]["backbone_flops"]
    result["images"] = cfg.SOLVER.IMS_PER_BATCH
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), help="under configs/")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--pairs", type=int, default=20, help="timed pairs per config (>= 6)")
    args = parser.parse_args()

    rows = {config: measure(config, args.pairs, args.device) for config in args.configs}
    print(
        f"Training steps, NL against its baseline twin, {args.pairs} pairs per row. Device: "
        f"{args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"Command: python benchmarks/bench_train.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print(
        "| config | images per step | baseline it/s | NL it/s | NL / baseline step time, "
        "95% CI | NL blocks' share of the backbone's multiply-adds |"
    )
    print("|---|---|---|---|---|---|")
    for config, r in rows.items():
        print(
            f"| {config} | {r['images']} | {1 / r['a_s']:.2f} | {1 / r['b_s']:.2f} | "
            f"{r['ratio']:.3f} [{r['low']:.3f}, {r['high']:.3f}] | {100 * r['share']:.1f}% |"
        )


if __name__ == "__main__":
    main()
