"""The training progress bar counts the trainer's iterations and shows its latest loss."""

import io

from detectron2.engine import TrainerBase

from nl_detectron.engine import ProgressBar


class _Counting(TrainerBase):
    """A trainer whose step only records a total loss of 1 / (iteration + 1)."""

    def run_step(self):
        self.storage.put_scalar("total_loss", 1.0 / (self.iter + 1))


def _drawn(start, max_iter):
    out = io.StringIO()
    trainer = _Counting()
    trainer.register_hooks([ProgressBar(mininterval=0, file=out)])
    trainer.train(start, max_iter)
    return out.getvalue()


def test_the_bar_ends_at_max_iter_with_the_last_loss():
    drawn = _drawn(0, 5)
    assert "5/5" in drawn and "total_loss=0.200" in drawn


def test_a_resumed_training_starts_the_bar_where_it_resumes():
    drawn = _drawn(3, 5)
    assert "3/5" in drawn and "5/5" in drawn and "1/5" not in drawn
