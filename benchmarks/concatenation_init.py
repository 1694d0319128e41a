#!/usr/bin/env python
"""
Does the concatenation block switch every pair off? Its init against a few others, on a task
that needs the block: every pixel must output the value stored at one marked pixel.

    python benchmarks/concatenation_init.py            # 20 seeds each, about 10 minutes
    python benchmarks/concatenation_init.py --seeds 5

A 3x3 conv and a ReLU, the block (GN after W_z), then a 1x1 head; Adam, lr 3e-3, batch 16,
300 steps. After each step, the fraction of pairs (i, j) of the batch with
w_f . [theta_i, phi_j] > 0. "Every pair off" counts the seeds where that fraction was 0 at some
step, where no gradient reaches theta, phi, g or w_f. The error is the mean squared error on
256 held-out images.
"""

import argparse
import statistics

import torch
from torch import nn

from nl_detectron.layers import NonLocalBlock2d
from nl_detectron.layers.nonlocal_ops import pairwise_weights

SIZE, CHANNELS = 12, 32


def marked_batch(generator, num_images):
    """One marked pixel per image (channel 0) holds a value in [-1, 1] (channel 1); noise else."""
    x = torch.zeros(num_images, 4, SIZE, SIZE)
    value = torch.rand(num_images, generator=generator) * 2 - 1
    where = torch.randint(0, SIZE * SIZE, (num_images,), generator=generator)
    images = torch.arange(num_images)
    x[images, 0, where // SIZE, where % SIZE] = 1.0
    x[images, 1, where // SIZE, where % SIZE] = value
    x[:, 2:] = torch.randn(num_images, 2, SIZE, SIZE, generator=generator)
    return x, value.view(num_images, 1, 1, 1).expand(num_images, 1, SIZE, SIZE)


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


@torch.no_grad()
def pairs_on(block, x):
    theta, phi, _ = block.embed(x)
    weights = pairwise_weights(theta, phi, block.mode, concat_weight=block._concat_weight())
    return (weights > 0).float().mean().item()


def run(init, seed, steps=300):
    """Returns (lowest fraction of pairs on over the steps, held-out error)."""
    torch.manual_seed(seed)
    block = (
        nn.Identity()
        if init is None
        else NonLocalBlock2d(CHANNELS, mode="concatenation", norm="GN")
    )
    if init is not None:
        init(block)
    stem = nn.Sequential(nn.Conv2d(4, CHANNELS, 3, padding=1), nn.ReLU())
    net = nn.Sequential(stem, block, nn.Conv2d(CHANNELS, 1, 1))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    lowest = 1.0
    for _ in range(steps):
        x, target = marked_batch(generator, 16)
        loss = (net(x) - target).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if init is not None:
            lowest = min(lowest, pairs_on(block, stem(x)))
    with torch.no_grad():
        x, target = marked_batch(torch.Generator().manual_seed(1000), 256)
        return lowest, (net(x) - target).square().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    seeds = range(args.seeds)
    print(f"Command: python benchmarks/concatenation_init.py --seeds {args.seeds}\n")
    print(
        "| init of the concatenation block | seeds with every pair off at some step | "
        "error, mean (min - max) |"
    )
    print("|---|---|---|")
    for name, init in [*INITS.items(), ("no block", None)]:
        results = [run(init, seed) for seed in seeds]
        errors = [error for _, error in results]
        off = (
            "-"
            if init is None
            else f"{sum(lowest == 0 for lowest, _ in results)} of {len(results)}"
        )
        print(
            f"| {name} | {off} | {statistics.mean(errors):.3f} "
            f"({min(errors):.3f} - {max(errors):.3f}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
