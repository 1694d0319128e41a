"""The training data loader's map-style dataset, the same on every detectron2 version."""

import logging
import random

import torch.utils.data as data

from .coco_json import DatasetError

logger = logging.getLogger(__name__)


class SkippingMapDataset(data.Dataset):
    """
    ``map_func`` over a map-style dataset, as detectron2's ``MapDataset``: where ``map_func``
    returns None (an image that cannot be read), an element drawn at random among those not known
    to fail is used instead. Unlike v0.6's ``MapDataset``, which on Python >= 3.11 dies drawing
    from a set, this runs on every detectron2 and Python; skipped elements are counted, and when
    every element has failed the error says so instead of drawing forever.
    """

    def __init__(self, dataset, map_func):
        """
        Args:
            dataset: a map-style dataset (``detectron2.data.DatasetFromList``, say).
            map_func (callable): element -> mapped element, or None to skip it.
        """
        self._dataset = dataset
        self._map_func = map_func
        self._rng = random.Random(42)  # as detectron2's, so a run's data stays reproducible
        self.skipped = set()  # indices whose map_func returned None

    def __len__(self):
        return len(self._dataset)

    def __getitem__(self, idx):
        index = int(idx)
        while True:
            mapped = self._map_func(self._dataset[index])
            if mapped is not None:
                return mapped
            if index not in self.skipped:
                self.skipped.add(index)
                logger.warning(f"{len(self.skipped)} of {len(self)} training images skipped so far")
            if len(self.skipped) == len(self):
                raise DatasetError(
                    f"every one of the {len(self)} training images was skipped: none can be read "
                    "(see the warnings above for each file and why)"
                )
            while index in self.skipped:
                index = self._rng.randrange(len(self))
