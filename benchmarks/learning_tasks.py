"""
Small training tasks that need a block's aggregation over the whole map, shared by
``benchmarks/concatenation_init.py`` and ``tests/layers/test_nonlocal_learning.py``:

- *offset*: each image is a per-image offset m (uniform in [-1, 1]) plus noise of std 2 at
  every pixel, and the target at every pixel is m;
- *marked*: each image marks one pixel and stores a value there, and every pixel must output
  that value.

The net: a 3x3 conv and a ReLU, the block, then a 1x1 head; Adam, lr 3e-3, batch 16.
"""

import torch
from torch import nn

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
