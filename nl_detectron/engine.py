"""Training and evaluation entry points shared by tools/train_net.py and the tests."""
import logging
import os

import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.engine import DefaultTrainer, default_setup
from detectron2.evaluation import verify_results
from detectron2.utils import comm

from .config import add_nonlocal_config
from .evaluation import build_coco_evaluator

logger = logging.getLogger(__name__)


class Trainer(DefaultTrainer):
    """detectron2's ``DefaultTrainer``, evaluating with COCO metrics for the model's tasks."""

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        if output_folder is None:
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference")
        return build_coco_evaluator(cfg, dataset_name, output_folder)


def load_config(config_file, opts=()):
    """
    A frozen-able config: detectron2's defaults, ``MODEL.NONLOCAL``, the file, then ``opts``
    (``[KEY, VALUE, ...]``). A CUDA device asked for where there is none falls back to the CPU.
    """
    cfg = get_cfg()
    add_nonlocal_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logger.warning(f"MODEL.DEVICE = {cfg.MODEL.DEVICE!r} but CUDA is not available; using cpu")
        cfg.MODEL.DEVICE = "cpu"
    return cfg


def setup(args):
    """Config from the parsed command line of ``default_argument_parser``, plus default_setup."""
    cfg = load_config(args.config_file, args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    return cfg


def main(args):
    """Train (``--resume`` to continue) or, with ``--eval-only``, evaluate ``MODEL.WEIGHTS``."""
    cfg = setup(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        results = Trainer.test(cfg, model)
        if comm.is_main_process():
            verify_results(cfg, results)
        return results
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()
