"""Training and evaluation entry points shared by tools/train_net.py and the tests."""

import argparse
import sys

from detectron2.engine import default_argument_parser, default_setup
from detectron2.evaluation import verify_results
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from ..checkpoint import SafeCheckpointer
from ..config import is_lazy, load_any_config, load_config
from ..data import DatasetNotFoundError, check_datasets_on_disk, register_coco_json
from .launch import launch_from_args
from .trainer import Trainer


def argument_parser():
    """detectron2's ``default_argument_parser`` (train_net's arguments), plus ``--dataset`` and
    ``--allow-unsafe-checkpoint`` as every tool has them."""
    parser = default_argument_parser()
    add_dataset_argument(parser)
    add_unsafe_checkpoint_argument(parser)
    return parser


def config_arguments(*, checkpoint=True, config_required=True):
    """
    The parent parser of every tool that builds a model from a config: ``--config-file``,
    ``--dataset``, ``--allow-unsafe-checkpoint`` (where the tool loads weights) and the trailing
    ``KEY VALUE`` overrides, meaning what they mean in train_net. Use as
    ``argparse.ArgumentParser(parents=[config_arguments()])``.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--config-file",
        required=config_required,
        metavar="FILE",
        help="a YAML config, or a Python (LazyConfig) one where the tool says it takes it",
    )
    add_dataset_argument(parser)
    if checkpoint:
        add_unsafe_checkpoint_argument(parser)
    parser.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        help="config overrides at the end of the command line: KEY VALUE ... (YAML), "
        "key=value ... (Python config)",
    )
    return parser


def add_dataset_argument(parser):
    parser.add_argument(
        "--dataset",
        nargs=3,
        action="append",
        default=[],
        metavar=("NAME", "JSON", "IMAGE_ROOT"),
        help="register a COCO-format dataset under NAME (repeatable), then use NAME in "
        "DATASETS.TRAIN / DATASETS.TEST",
    )


def add_unsafe_checkpoint_argument(parser):
    parser.add_argument(
        "--allow-unsafe-checkpoint",
        action="store_true",
        help="load .pkl/.pth checkpoints with plain pickle, which can run code from the file: "
        "only for files you trust",
    )


def register_datasets(args):
    """Register the datasets of ``--dataset`` arguments."""
    for name, json_file, image_root in args.dataset:
        register_coco_json(name, json_file, image_root)


def config_datasets(cfg, *, eval_only=False):
    """``{config key: [dataset names]}`` that a run of ``cfg`` (YAML or Python) reads."""
    if is_lazy(cfg):
        loaders = {} if eval_only else {"dataloader.train": cfg.dataloader.get("train")}
        loaders["dataloader.test"] = cfg.dataloader.get("test")
        found = {}
        for key, loader in loaders.items():
            names = loader.dataset.names if loader is not None else ()
            found[f"{key}.dataset.names"] = [names] if isinstance(names, str) else list(names)
        return found
    found = {} if eval_only else {"DATASETS.TRAIN": list(cfg.DATASETS.TRAIN)}
    found["DATASETS.TEST"] = list(cfg.DATASETS.TEST)
    return found


def exit_if_datasets_missing(args):
    """
    Before any process starts: where a dataset the config names is not on disk (COCO not
    downloaded, ``DETECTRON2_DATASETS`` not set), print one message naming the file, the layout
    and where the docs say how to prepare it, and exit with status 2.
    """
    cfg = load_any_config(args.config_file, args.opts)
    try:
        check_datasets_on_disk(
            config_datasets(cfg, eval_only=args.eval_only),
            skip={name for name, _, _ in args.dataset},
        )
    except DatasetNotFoundError as e:
        print(f"{args.config_file}: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def setup(args):
    """
    Config from the parsed command line of ``argument_parser``, then detectron2's default_setup
    (logging, seed, config dump), then the ``--dataset`` registrations. A negative ``SEED``
    becomes a seed drawn for the run.
    """
    cfg = load_config(args.config_file, args.opts)
    drawn = cfg.SEED < 0
    if drawn:
        # One seed for the run, the same on every rank, kept in the output's config.yaml so that
        # the run can be repeated; detectron2 would draw one per rank and record none.
        cfg.SEED = comm.shared_random_seed()
    cfg.freeze()
    default_setup(cfg, args)  # seeds each rank with SEED + rank
    # default_setup sets up detectron2's and fvcore's loggers; ours log to the same places.
    logger = setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="nl_detectron")
    if drawn:
        logger.info(f"SEED < 0: drew SEED {cfg.SEED} for this run (rank r uses SEED + r)")
    register_datasets(args)
    return cfg


def main(args):
    """Train (``--resume`` to continue) or, with ``--eval-only``, evaluate ``MODEL.WEIGHTS``."""
    cfg = setup(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        SafeCheckpointer(
            model, cfg.OUTPUT_DIR, allow_unsafe=args.allow_unsafe_checkpoint
        ).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        results = Trainer.test(cfg, model)
        if comm.is_main_process():
            verify_results(cfg, results)
        return results
    trainer = Trainer(cfg, allow_unsafe_checkpoint=args.allow_unsafe_checkpoint)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def training_command(main_func, argv=None):
    """
    A training tool (``tools/train_net.py``, ``tools/lazyconfig_train_net.py``): parse ``argv``
    with ``argument_parser``, check the datasets on disk, then run ``main_func(args)`` in the
    processes ``--num-gpus`` and ``--num-machines`` ask for. Returns the exit status, 0.
    """
    args = argument_parser().parse_args(argv)
    print("Command Line Args:", args)
    exit_if_datasets_missing(args)
    launch_from_args(main_func, args)
    return 0
