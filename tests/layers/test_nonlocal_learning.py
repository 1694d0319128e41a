"""
Every pairwise function, fast and naive, learns what only aggregation over the whole map gives.

The task: each image is a per-image offset m (uniform in [-1, 1]) plus noise of std 2 at every
pixel, and the target at every pixel is m. A 3x3 conv sees 9 pixels, so without the block the
best guess at m is poor; with it, every position can average over the whole 12x12 map.

The concatenation's own risk, every pair switched off (ReLU(w_f . [theta_i, phi_j]) = 0 for all
i, j, where no gradient reaches the block), is checked on a second task: each image marks one
pixel and stores a value there, and every pixel must output that value.
"""

import pytest
import torch
from torch import nn

from nl_detectron.layers import MODES, NonLocalBlock2d
from nl_detectron.layers.nonlocal_ops import pairwise_weights

SIZE, CHANNELS = 12, 32


def offset_batch(generator, num_images):
    offset = torch.rand(num_images, 1, 1, 1, generator=generator) * 2 - 1
    x = offset + 2 * torch.randn(num_images, 4, SIZE, SIZE, generator=generator)
    return x, offset.expand(num_images, 1, SIZE, SIZE)


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


def build_net(block, seed):
    """A 3x3 conv and a ReLU, ``block``, then a 1x1 head; the convs drawn after seeding."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(4, CHANNELS, 3, padding=1), nn.ReLU(), block, nn.Conv2d(CHANNELS, 1, 1)
    )


def train_and_evaluate(block, batch=offset_batch, steps=200, seed=0, after_step=None):
    """
    Mean squared error on held-out images after ``steps`` Adam steps. ``after_step(net, x)``,
    if given, sees the net and the step's batch after each step.
    """
    net = build_net(block, seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x, target = batch(generator, 16)
        loss = (net(x) - target).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step(net, x)
    with torch.no_grad():
        x, target = batch(torch.Generator().manual_seed(1000), 128)
        return (net(x) - target).square().mean().item()


@pytest.fixture(scope="module")
def error_without_block():
    torch.manual_seed(0)
    return train_and_evaluate(nn.Identity())


@pytest.mark.parametrize("impl", ["bounded", "naive"])
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_learns_a_map_wide_target(mode, impl, error_without_block):
    torch.manual_seed(0)
    block = NonLocalBlock2d(CHANNELS, mode=mode, impl=impl, norm="GN")
    error = train_and_evaluate(block)
    # Measured: about 0.10 without the block, 0.01 to 0.015 with it in every mode.
    assert error < 0.5 * error_without_block, (mode, impl, error, error_without_block)


@torch.no_grad()
def pairs_on(net, x):
    """Fraction of pairs (i, j) of the batch with f(x_i, x_j) > 0."""
    block = net[2]
    theta, phi, _ = block.embed(net[1](net[0](x)))
    weights = pairwise_weights(theta, phi, block.mode, concat_weight=block._concat_weight())
    return (weights > 0).float().mean().item()


def lowest_pairs_on_and_error(block, seed):
    """The marked-pixel task, 300 steps: the lowest fraction of pairs on after a step, the error."""
    fractions = []
    error = train_and_evaluate(
        block,
        marked_batch,
        steps=300,
        seed=seed,
        after_step=lambda net, x: fractions.append(pairs_on(net, x)),
    )
    return min(fractions), error


@pytest.mark.slow
def test_concatenation_never_switches_every_pair_off():
    """
    Measured with the earlier init (theta and phi std 0.01, zero biases): seed 4 had every pair
    off for 288 of its 300 steps and ended at 0.31, the error without the block; the other 9
    seeds had between 11% and 100% of the pairs on at their lowest step. With every pair on at
    init, every pair stayed on in all 10 seeds (error 0.09 to 0.15). The test runs seeds 0 to 4,
    seed 4 among them (half the time of 10; benchmarks/concatenation_init.py runs more).
    """
    for seed in range(5):
        torch.manual_seed(seed)
        block = NonLocalBlock2d(CHANNELS, mode="concatenation", norm="GN")
        lowest, error = lowest_pairs_on_and_error(block, seed)
        assert lowest > 0, seed
        assert error < 0.2, (seed, error)  # measured: about 0.11; 0.31 without the block
