"""detectron2's ``DefaultTrainer`` with our data loading, evaluation reports, safe checkpoints
and exact resumption."""

import logging
import os
import weakref

from detectron2.data import (
    DatasetFromList,
    build_detection_test_loader,
    build_detection_train_loader,
)
from detectron2.data.samplers import TrainingSampler
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer, create_ddp_model, hooks
from detectron2.engine.train_loop import TrainerBase
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from ..checkpoint import SafeCheckpointer
from ..data import CheckedDatasetMapper, SkippingMapDataset
from ..evaluation import build_coco_evaluator, write_report
from ..utils.compat import (
    DEFAULT_TRAINER_SAVES_OPTIMIZER,
    restart_data_loader,
    train_loader_kwargs,
    training_sampler_args,
)
from .diagnostics import BlockDiagnostics
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
    - several processes on CPU (gloo) as on GPUs: DDP with the settings of ``cfg.DDP``, each
      rank's own data loader seed, and every rank's random states in the checkpoints.
    """

    def __init__(self, cfg, *, allow_unsafe_checkpoint=False):
        # DefaultTrainer.__init__ (the same in v0.6 and main), but with the DDP settings of
        # cfg.DDP, and on CPU a DDP model without device_ids, which torch refuses for CPU modules
        # and detectron2's create_ddp_model passes.
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        check_norms_fit_processes(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        model = create_ddp_model(
            model,
            **ddp_kwargs(
                cfg.MODEL.DEVICE,
                broadcast_buffers=cfg.DDP.BROADCAST_BUFFERS,
                find_unused_parameters=cfg.DDP.FIND_UNUSED_PARAMETERS,
                fp16_compression=cfg.DDP.FP16_COMPRESSION,
            ),
        )
        self._trainer = (AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer)(
            model, data_loader, optimizer
        )
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = SafeCheckpointer(
            model, cfg.OUTPUT_DIR, allow_unsafe=allow_unsafe_checkpoint, trainer=weakref.proxy(self)
        )
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

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
        # Each rank's workers get their own augmentation draws. SEED is never negative here:
        # engine.setup draws one for the run.
        own_base_seed_generator(loader, seed=max(cfg.SEED, 0) + comm.get_rank())
        return loader

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_detection_test_loader(
            cfg, dataset_name, mapper=CheckedDatasetMapper(cfg, False)
        )

    def build_hooks(self):
        # The random states are taken right before the checkpointer saves them: after the hooks
        # that may draw random numbers (PreciseBN), on every rank (the main process alone has the
        # PeriodicCheckpointer; every rank has the EvalHook after it).
        built = super().build_hooks()
        at = next(
            i
            for i, h in enumerate(built)
            if isinstance(h, (hooks.PeriodicCheckpointer, hooks.EvalHook))
        )
        built.insert(at, RandomStateHook(self.cfg.SOLVER.CHECKPOINT_PERIOD))
        if self.cfg.NL_DIAGNOSTICS.PERIOD > 0:
            # before the writers (the last hook), which write what it puts
            built.insert(
                len(built) - 1, BlockDiagnostics(self.model, self.cfg.NL_DIAGNOSTICS.PERIOD)
            )
        return built

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


def ddp_kwargs(device, **settings):
    """
    The keyword arguments of detectron2's ``create_ddp_model`` for a model on ``device``:
    ``settings``, and no ``device_ids`` off CUDA (torch refuses them for a CPU module, and
    detectron2 passes them).
    """
    return settings if device.startswith("cuda") else {**settings, "device_ids": None}


# The get_norm names that build torch's nn.SyncBatchNorm.
TORCH_SYNC_BN = ("SyncBN", "nnSyncBN")


def check_norms_fit_processes(cfg, world_size):
    """
    Refuse the norms that are torch's ``SyncBatchNorm`` (detectron2's ``"SyncBN"`` and
    ``"nnSyncBN"``) in a training of several CPU processes, naming the keys: it runs on GPUs
    only, and would fail inside DDP's constructor.
    """
    if world_size == 1 or cfg.MODEL.DEVICE.startswith("cuda"):
        return
    found = [(key, value) for key, value in _flat_items(cfg) if value in TORCH_SYNC_BN]
    if found:
        raise ValueError(
            f"{', '.join(f'{key} = {value}' for key, value in found)}: torch's SyncBatchNorm "
            f"runs on GPUs only, and these {world_size} processes run on {cfg.MODEL.DEVICE}. Use "
            "'naiveSyncBN' (detectron2's, which synchronises through any process group)."
        )


def _flat_items(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _flat_items(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
