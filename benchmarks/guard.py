#!/usr/bin/env python
"""
Does a block learn a long-range relation? A small network trained from scratch on symbolic
grids, where each object's label depends on an object farther away than the convolutions see:

    python benchmarks/guard.py                                  # every row of GUARD_ROWS
    python benchmarks/guard.py --task partner --steps 1500 --seeds 0 1
    python benchmarks/guard.py --rows "NL, BN, scale 0 (official; the default)" none --control

The grids are H x W cells (default 20 x 20); an object is one cell with one-hot shape (4) and
colour (4) channels, a cue a cell with its own flag and a colour, all under Gaussian noise of
0.05. Three 3x3 convs with ReLU (64 channels, receptive field 7x7), a 1x1 conv to 256 channels
(R18's res4 width, so that GN's 32 groups hold 8 channels, as there), one block of the family
(or none), then a 1x1 head (256 -> 64 -> 2) labels every object cell. Related cells lie at
least ``MIN_DISTANCE`` (10) cells apart (Chebyshev), beyond what the convs see, so the network
without a block stays at chance. Tasks:

- ``cue``: every object's label is the cue cell's colour // 2 (one distant cell every object
  shares: query-independent attention answers it).
- ``partner``: two pairs of same-shape objects; an object's label is its partner's colour % 2
  (which object matters depends on the query).

``--control`` gives each object its label's colour in 4 more channels of its own cell, so the
label is local: a row that learns the control but not the task failed on the relation, not on
the schedule. A run "learned" when its validation accuracy reaches ``LEARNED`` (0.9); the table
gives the final accuracy, and the step at which each seed first reached it.
"""

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nl_detectron.layers import build_block

NUM_SHAPES = NUM_COLORS = 4
NOISE = 0.05
MIN_DISTANCE = 10
LEARNED = 0.9
TASKS = ("cue", "partner")
# name: the block's settings (``build_block``'s arguments), or None for no block. Each NL row
# names its norm and initial scale, so that a row trains the same block whatever the defaults;
# the first is the default of every NL config.
GUARD_ROWS = {
    "NL, BN, scale 0 (official; the default)": {"norm": "BN", "norm_init_scale": 0.0},
    "none": None,
    "NL, GN, scale 1, W_z 0": {"norm": "GN", "norm_init_scale": 1.0},
    "NL, GN, scale 0 (official init)": {"norm": "GN", "norm_init_scale": 0.0},
    "NL, BN, scale 1, W_z 0": {"norm": "BN", "norm_init_scale": 1.0},
    "NL, no norm, W_z 0": {"norm": "", "norm_init_scale": 0.0},
    "NL, GN before W_z, W_z 0": {"norm": "GN", "norm_at": "y", "norm_init_scale": 1.0},
    "NL, GN, scale 1, logits x8": {"norm": "GN", "norm_init_scale": 1.0, "logit_scale": 8.0},
    "NL, BN, scale 1, logits x8": {"norm": "BN", "norm_init_scale": 1.0, "logit_scale": 8.0},
    "SNL": {"block": "simplified"},
    "GC r4": {"block": "gc", "gc_ratio": 4},
    "DNL, GN, scale 1, W_z 0": {"block": "disentangled", "norm": "GN", "norm_init_scale": 1.0},
}


def in_channels(control):
    """Shape, colour, cue flag (and, for the control, the label's colour) channels."""
    return NUM_SHAPES + NUM_COLORS + 1 + (NUM_COLORS if control else 0)


def _far_cells(rng, anchor, size, count, taken):
    """``count`` free cells at least MIN_DISTANCE (Chebyshev) from ``anchor``, or None."""
    h, w = size
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    far = np.maximum(abs(rows - anchor[0]), abs(cols - anchor[1])) >= MIN_DISTANCE
    for cell in taken:
        far[cell] = False
    candidates = np.argwhere(far)
    if len(candidates) < count:
        return None
    return [tuple(c) for c in candidates[rng.choice(len(candidates), count, replace=False)]]


def _random_cell(rng, size, taken):
    while True:
        cell = (int(rng.integers(size[0])), int(rng.integers(size[1])))
        if cell not in taken:
            return cell


def draw_grid(rng, task, *, size=(20, 20), control=False):
    """
    One grid.

    Returns:
        x: (C, H, W) float32 channels, noise included; labels: (H, W) int64, -1 where no object.
    """
    h, w = size
    x = np.zeros((in_channels(control), h, w), np.float32)
    labels = np.full((h, w), -1, np.int64)
    objects = []  # (cell, shape, colour, label colour)
    while not objects:
        if task == "cue":
            cue, cue_colour = _random_cell(rng, size, set()), int(rng.integers(NUM_COLORS))
            cells = _far_cells(rng, cue, size, int(rng.integers(2, 5)), {cue})
            if cells is None:
                continue
            x[NUM_SHAPES + NUM_COLORS, cue[0], cue[1]] = 1
            x[NUM_SHAPES + cue_colour, cue[0], cue[1]] = 1
            for cell in cells:
                objects.append(
                    (cell, rng.integers(NUM_SHAPES), rng.integers(NUM_COLORS), cue_colour)
                )
        else:
            shapes = rng.choice(NUM_SHAPES, 2, replace=False)
            taken, pairs = set(), []
            for shape in shapes:
                first = _random_cell(rng, size, taken)
                second = _far_cells(rng, first, size, 1, taken | {first})
                if second is None:
                    break
                taken |= {first, second[0]}
                pairs.append((shape, first, second[0]))
            if len(pairs) < 2:
                continue
            for shape, first, second in pairs:
                colours = rng.integers(NUM_COLORS, size=2)
                objects.append((first, shape, colours[0], colours[1]))
                objects.append((second, shape, colours[1], colours[0]))
    for (r, c), shape, colour, label_colour in objects:
        x[shape, r, c] = 1
        x[NUM_SHAPES + colour, r, c] = 1
        if control:
            x[NUM_SHAPES + NUM_COLORS + 1 + label_colour, r, c] = 1
        labels[r, c] = label_colour // 2 if task == "cue" else label_colour % 2
    x += rng.normal(0, NOISE, x.shape).astype(np.float32)
    return x, labels


def draw_batch(rng, task, count, **kwargs):
    grids = [draw_grid(rng, task, **kwargs) for _ in range(count)]
    return (
        torch.from_numpy(np.stack([g[0] for g in grids])),
        torch.from_numpy(np.stack([g[1] for g in grids])),
    )


class GuardNet(nn.Module):
    """
    Three 3x3 convs with ReLU, a 1x1 conv with ReLU to the block's channels, one block of the
    family (or none), a 1x1 head to 2 classes.
    """

    def __init__(self, in_channels, *, width=64, block_channels=256, block=None):
        """
        Args:
            block_channels (int): the block's C; 256, as R18's res4, gives GN (32 groups) the
                8 channels per group it has there.
            block (dict or None): ``build_block``'s settings, or None for no block.
        """
        super().__init__()
        layers = []
        for i in range(3):
            layers += [nn.Conv2d(in_channels if i == 0 else width, width, 3, padding=1), nn.ReLU()]
        layers += [nn.Conv2d(width, block_channels, 1), nn.ReLU()]
        self.convs = nn.Sequential(*layers)
        self.block = nn.Identity() if block is None else build_block(block_channels, **block)
        self.head = nn.Sequential(
            nn.Conv2d(block_channels, width, 1), nn.ReLU(), nn.Conv2d(width, 2, 1)
        )

    def forward(self, x):
        """(N, C_in, H, W) -> (N, 2, H, W) logits per cell."""
        return self.head(self.block(self.convs(x)))


@torch.no_grad()
def accuracy(model, x, labels):
    model.eval()
    predicted = model(x).argmax(1)
    model.train()
    on_objects = labels >= 0
    return (predicted[on_objects] == labels[on_objects]).float().mean().item()


def train_guard(
    block,
    task="cue",
    *,
    seed=0,
    steps=1500,
    batch=32,
    lr=1e-3,
    control=False,
    eval_every=100,
    stop_when_learned=False,
):
    """
    Train ``GuardNet(block=block)`` on ``task`` from scratch, for ``steps`` steps or, with
    ``stop_when_learned``, until an evaluation reaches LEARNED.

    Returns:
        dict: "accuracy" (final, on 300 fixed validation grids), "learned_at" (the first
        evaluated step whose accuracy reached LEARNED, or None), "majority" (the validation
        share of the more common label), "curve" [(step, accuracy)].
    """
    val_x, val_labels = draw_batch(np.random.default_rng(10_000), task, 300, control=control)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = GuardNet(in_channels(control), block=block)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    curve, learned_at = [], None
    for step in range(1, steps + 1):
        x, labels = draw_batch(rng, task, batch, control=control)
        loss = F.cross_entropy(model(x), labels, ignore_index=-1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % eval_every == 0 or step == steps:
            curve.append((step, accuracy(model, val_x, val_labels)))
            if learned_at is None and curve[-1][1] >= LEARNED:
                learned_at = step
                if stop_when_learned:
                    break
    ones = (val_labels == 1).sum().item() / (val_labels >= 0).sum().item()
    return {
        "accuracy": curve[-1][1],
        "learned_at": learned_at,
        "majority": max(ones, 1 - ones),
        "curve": curve,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=TASKS, default="cue")
    parser.add_argument("--rows", nargs="+", choices=list(GUARD_ROWS), default=list(GUARD_ROWS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--control", action="store_true", help="the label made local")
    parser.add_argument(
        "--stop-when-learned",
        action="store_true",
        help="end a run at its first evaluation that reaches LEARNED (the accuracy column is "
        "then that evaluation's)",
    )
    args = parser.parse_args(argv)
    stop = ", stopped when learned" if args.stop_when_learned else ""
    print(
        f"task {args.task}{' (control)' if args.control else ''}, {args.steps} steps{stop}, seeds "
        f"{args.seeds}, {torch.get_num_threads()} thread(s); learned: accuracy >= {LEARNED}\n"
    )
    print("| block | accuracy per seed | learned | learned at step | s per run |")
    print("|---|---|---|---|---|")
    for name in args.rows:
        start, results = time.perf_counter(), []
        for seed in args.seeds:
            results.append(
                train_guard(
                    GUARD_ROWS[name],
                    args.task,
                    seed=seed,
                    steps=args.steps,
                    control=args.control,
                    stop_when_learned=args.stop_when_learned,
                )
            )
        seconds = (time.perf_counter() - start) / len(args.seeds)
        accuracies = " / ".join(f"{100 * r['accuracy']:.1f}" for r in results)
        learned = sum(r["learned_at"] is not None for r in results)
        at = " / ".join(str(r["learned_at"] or "-") for r in results)
        print(f"| {name} | {accuracies} | {learned} of {len(results)} | {at} | {seconds:.0f} |")
    majority = statistics.mean(r["majority"] for r in results)
    print(f"\nmajority label: {100 * majority:.1f}% of the validation objects")


if __name__ == "__main__":
    main()
