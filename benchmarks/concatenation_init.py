#!/usr/bin/env python
"""
Does the concatenation block switch every pair off? Its init against a few others, on a task
that needs the block: every pixel must output the value stored at one marked pixel.

    python benchmarks/concatenation_init.py            # 20 seeds each, about 10 minutes
    python benchmarks/concatenation_init.py --seeds 5

The marked-pixel task of benchmarks/learning_tasks.py (tests/layers/test_nonlocal_learning.py
trains on it too): a 3x3 conv and a ReLU,
the block (GN after W_z), then a 1x1 head; Adam, lr 3e-3, batch 16, 300 steps. After each step,
the fraction of pairs (i, j) of the batch with w_f . [theta_i, phi_j] > 0, and the same for the
first batch before any step. "Every pair off"
counts the seeds where that fraction was 0 at some step, where no gradient reaches theta, phi,
g or w_f. The error is the mean squared error on 128 held-out images.
"""

import argparse
import statistics

import torch
from learning_tasks import (
    CHANNELS,
    build_net,
    lowest_pairs_on_and_error,
    marked_batch,
    pairs_on,
    train_and_evaluate,
)
from torch import nn

from nl_detectron.layers import NonLocalBlock2d


def _theta_phi_std(std):
    def init(block):
        for conv in (block.theta, block.phi):
            nn.init.normal_(conv.weight, std=std)
            nn.init.zeros_(conv.bias)

    return init


def _official(block):
    # The official code's conv init (std 0.01, zero bias) for theta, phi and w_f alike.
    _theta_phi_std(0.01)(block)
    nn.init.normal_(block.concat_project.weight, std=0.01)


INITS = {
    "every pair on: theta, phi zero, biases along w_f (ours)": lambda block: None,
    "theta, phi std 0.01 (the earlier init), w_f PyTorch's default": _theta_phi_std(0.01),
    "theta, phi, w_f std 0.01 (the official code's conv init)": _official,
    "theta, phi std 0.1, w_f PyTorch's default": _theta_phi_std(0.1),
}


def pairs_on_at_init(block, seed):
    """Fraction of pairs on for the first training batch, through the net as it starts."""
    x, _ = marked_batch(torch.Generator().manual_seed(seed), 16)  # train_and_evaluate's first
    return pairs_on(build_net(block, seed), x)


def run(init, seed):
    """Returns (fraction of pairs on at init, lowest one over the 300 steps, held-out error)."""
    torch.manual_seed(seed)
    if init is None:
        error = train_and_evaluate(nn.Identity(), marked_batch, steps=300, seed=seed)
        return None, None, error
    block = NonLocalBlock2d(CHANNELS, mode="concatenation", norm="GN")
    init(block)
    at_init = pairs_on_at_init(block, seed)
    return (at_init, *lowest_pairs_on_and_error(block, seed))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    seeds = range(args.seeds)
    print(f"Command: python benchmarks/concatenation_init.py --seeds {args.seeds}\n")
    print(
        "| init of the concatenation block | pairs on at init, seeds' lowest - highest | "
        "seeds with every pair off at some step | error, mean (min - max) |"
    )
    print("|---|---|---|---|")
    for name, init in [*INITS.items(), ("no block", None)]:
        results = [run(init, seed) for seed in seeds]
        errors = [error for _, _, error in results]
        if init is None:
            at_init = off = "-"
        else:
            first = [fraction for fraction, _, _ in results]
            at_init = f"{min(first):.0%} - {max(first):.0%}"
            off = f"{sum(lowest == 0 for _, lowest, _ in results)} of {len(results)}"
        print(
            f"| {name} | {at_init} | {off} | {statistics.mean(errors):.3f} "
            f"({min(errors):.3f} - {max(errors):.3f}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
