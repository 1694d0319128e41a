"""detectron2's ``DefaultTrainer`` with our data loading, evaluation reports, safe checkpoints
and exact resumption."""

import logging
import os

from detectron2.data import (
    DatasetFromList,
    build_detection_test_loader,
    build_detection_train_loader,
)
from detectron2.data.samplers import TrainingSampler
from detectron2.engine import DefaultTrainer
from detectron2.utils import comm

from ..checkpoint import SafeCheckpointer
from ..data import CheckedDatasetMapper, SkippingMapDataset
from ..evaluation import build_coco_evaluator
from ..report import write_report
from ..utils.compat import (
    DEFAULT_TRAINER_SAVES_OPTIMIZER,
    restart_data_loader,
    train_loader_kwargs,
    training_sampler_args,
)
from .resume import RandomStateHook, ResumableTrainingSampler, own_base_seed_generator

logger = logging.getLogger(__name__)


class Trainer(DefaultTrainer):
    """
    detectron2's ``DefaultTrainer`` with:

    - COCO evaluation for the tasks the model has, also written as ``eval_report.json`` and
      ``eval_report.md`` to the output folder;
    - images that cannot be read named (skipped with a warning in training);
    - checkpoints loaded without running code from the file (``allow_unsafe_checkpoint`` to
      trust one) and saved atomically;
    - exact resumption: checkpoints hold the optimizer state, and ``--resume`` continues the
      training data stream where it stopped and restores the random states, so that on CPU
      with ``DATALOADER.NUM_WORKERS 0`` an interrupted and resumed training ends with the
      weights of an uninterrupted one. (With workers, or images of several aspect ratios, the
      data order is kept but not the batches' exact makeup.)
    """

    def __init__(self, cfg, *, allow_unsafe_checkpoint=False):
        self.allow_unsafe_checkpoint = allow_unsafe_checkpoint
        super().__init__(cfg)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        if output_folder is None:
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference")
        return build_coco_evaluator(cfg, dataset_name, output_folder)

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        """detectron2's test, plus ``eval_report.json`` / ``.md`` in ``cfg.OUTPUT_DIR``."""
        results = super().test(cfg, model, evaluators)
        if comm.is_main_process() and results:
            write_report(results, cfg.OUTPUT_DIR, title=f"COCO evaluation: {cfg.DATASETS.TEST}")
        return results

    @classmethod
    def build_train_loader(cls, cfg):
        kwargs = train_loader_kwargs(cfg, mapper=CheckedDatasetMapper(cfg, True))
        # Mapped by ours, not detectron2's MapDataset: v0.6's dies when an image is skipped.
        kwargs["dataset"] = SkippingMapDataset(
            DatasetFromList(kwargs["dataset"], copy=False), kwargs["mapper"]
        )
        kwargs["mapper"] = None
        sampler = kwargs["sampler"]
        if type(sampler) is TrainingSampler:
            sampler = ResumableTrainingSampler(*training_sampler_args(sampler))
            kwargs["sampler"] = sampler
        else:
            logger.warning(
                f"{type(sampler).__name__} (DATALOADER.SAMPLER_TRAIN = "
                f"{cfg.DATALOADER.SAMPLER_TRAIN!r}): --resume restarts its data stream from the "
                "beginning; exact resumption supports TrainingSampler"
            )
        loader = build_detection_train_loader(**kwargs)
        loader.resumable_sampler = sampler  # what resume_or_load moves forward
        own_base_seed_generator(loader, seed=max(cfg.SEED, 0))
        return loader

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_detection_test_loader(
            cfg, dataset_name, mapper=CheckedDatasetMapper(cfg, False)
        )

    def build_hooks(self):
        # DefaultTrainer made its DetectionCheckpointer just before; the hooks built here
        # (periodic checkpoints) and resume_or_load must use ours.
        old = self.checkpointer
        self.checkpointer = SafeCheckpointer(
            old.model,
            old.save_dir,
            allow_unsafe=self.allow_unsafe_checkpoint,
            **old.checkpointables,
        )
        return [RandomStateHook(), *super().build_hooks()]

    def state_dict(self):
        # On v0.6 a resumed training restarted SGD's momentum: save it as main does.
        state = super().state_dict()
        if not DEFAULT_TRAINER_SAVES_OPTIMIZER:
            state["_trainer"] = self._trainer.state_dict()
        return state

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        # "_trainer" is absent from checkpoints of v0.6's own DefaultTrainer.
        if not DEFAULT_TRAINER_SAVES_OPTIMIZER and "_trainer" in state_dict:
            self._trainer.load_state_dict(state_dict["_trainer"])

    def resume_or_load(self, resume=True):
        super().resume_or_load(resume=resume)
        sampler = getattr(self._trainer.data_loader, "resumable_sampler", None)
        if self.start_iter > 0 and isinstance(sampler, ResumableTrainingSampler):
            sampler.skip = self.start_iter * self.cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size()
            restart_data_loader(self._trainer)
