"""The guard benchmark (benchmarks/guard.py): its tasks, and that the shipped default learns."""

import numpy as np
import pytest
import torch

from tests.helpers import load_script

guard = load_script("benchmarks/guard.py")


@pytest.mark.parametrize("task", guard.TASKS)
def test_every_object_is_labelled_by_a_cell_beyond_the_convolutions_reach(task):
    rng = np.random.default_rng(0)
    for _ in range(50):
        x, labels = guard.draw_grid(rng, task)
        shape = x[: guard.NUM_SHAPES].round()
        colour = x[guard.NUM_SHAPES : guard.NUM_SHAPES + guard.NUM_COLORS].round()
        cells = np.argwhere(labels >= 0)
        if task == "cue":
            cue = np.argwhere(x[guard.NUM_SHAPES + guard.NUM_COLORS].round() == 1)[0]
            for r, c in cells:
                assert max(abs(r - cue[0]), abs(c - cue[1])) >= guard.MIN_DISTANCE
                assert labels[r, c] == colour[:, cue[0], cue[1]].argmax() // 2
        else:
            assert len(cells) == 4
            for r, c in cells:
                same = [
                    (r2, c2)
                    for r2, c2 in cells
                    if (r2, c2) != (r, c) and shape[:, r2, c2].argmax() == shape[:, r, c].argmax()
                ]
                assert len(same) == 1  # one partner
                r2, c2 = same[0]
                assert max(abs(r - r2), abs(c - c2)) >= guard.MIN_DISTANCE
                assert labels[r, c] == colour[:, r2, c2].argmax() % 2


def test_the_control_puts_the_label_on_the_object():
    x, labels = guard.draw_grid(np.random.default_rng(1), "partner", control=True)
    extra = x[guard.NUM_SHAPES + guard.NUM_COLORS + 1 :].round()
    for r, c in np.argwhere(labels >= 0):
        assert extra[:, r, c].argmax() % 2 == labels[r, c]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_the_shipped_default_learns_the_cue_task(seed):
    """The default NL block (``DEFAULTS``: BN after W_z, its scale at zero, as the official code)
    learns the cue in the guard's small network. Over seeds 0 to 7 it learned on 8 of 8 by step
    200 at one thread and on 7 of 8 by step 300 at two (seed 3 not by 400); seeds 1 and 2
    learned by step 200 at both (docs/experiments_appendix.md, "The guard"), so 600 steps leave
    a margin of 3 for another machine's kernels."""
    result = guard.train_guard({}, "cue", seed=seed, steps=600, stop_when_learned=True)
    assert result["learned_at"] is not None, result["curve"]


def test_the_first_row_is_the_shipped_default():
    from nl_detectron.layers.settings import DEFAULTS

    first = next(iter(guard.GUARD_ROWS.values()))
    assert all(DEFAULTS[name] == value for name, value in first.items()), first


@pytest.mark.parametrize("row", list(guard.GUARD_ROWS))
def test_every_row_builds_a_block_that_starts_as_the_identity(row):
    net = guard.GuardNet(guard.in_channels(False), block=guard.GUARD_ROWS[row])
    x = torch.randn(2, 256, 6, 6)
    torch.testing.assert_close(net.block(x), x, rtol=0, atol=0)
