"""
A progress bar over training iterations (tqdm), for a notebook or a terminal where detectron2's
log is off: ``trainer.register_hooks([ProgressBar()])``.
"""

import tqdm

from detectron2.engine import HookBase


class ProgressBar(HookBase):
    """
    One tqdm bar from the trainer's ``start_iter`` to ``max_iter``, showing the latest
    ``total_loss`` the trainer put in its event storage.
    """

    def __init__(self, *, mininterval=2.0, file=None):
        """
        Args:
            mininterval (float): seconds between redraws at least (few lines in a stored
                notebook).
            file: where to draw (default: tqdm's, standard error).
        """
        self.mininterval, self.file = mininterval, file
        self._bar = None

    def before_train(self):
        self._bar = tqdm.tqdm(
            total=self.trainer.max_iter,
            initial=self.trainer.start_iter,
            desc="training",
            unit="it",
            mininterval=self.mininterval,
            file=self.file,
        )

    def after_step(self):
        history = self.trainer.storage.histories().get("total_loss")
        if history is not None:
            self._bar.set_postfix(total_loss=f"{history.latest():.3f}", refresh=False)
        self._bar.update(1)

    def after_train(self):
        if self._bar is not None:
            self._bar.close()
