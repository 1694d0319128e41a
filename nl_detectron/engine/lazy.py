"""
Training and evaluation from Python (LazyConfig) configs: detectron2's
tools/lazyconfig_train_net.py, with our checkpointer (safe loading, atomic saves), the COCO
reports, and CPU processes.
"""

import logging

from detectron2.config import instantiate
from detectron2.engine import AMPTrainer, SimpleTrainer, default_setup, default_writers, hooks
from detectron2.engine.defaults import create_ddp_model
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm

from ..checkpoint import SafeCheckpointer
from ..config import load_lazy_config
from ..evaluation.report import write_report
from .defaults import register_datasets
from .trainer import ddp_kwargs

logger = logging.getLogger(__name__)


def do_test(cfg, model):
    """Evaluate on ``cfg.dataloader.test`` with ``cfg.dataloader.evaluator``; the main process
    also writes ``eval_report.json`` / ``.md`` to ``train.output_dir``."""
    if "evaluator" not in cfg.dataloader:
        return {}
    results = inference_on_dataset(
        model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator)
    )
    if comm.is_main_process():
        print_csv_format(results)
        title = f"COCO evaluation: {cfg.dataloader.test.dataset.names}"
        write_report(results, cfg.train.output_dir, title=title)
    return results


def do_train(cfg, *, resume=False, allow_unsafe_checkpoint=False):
    """Train ``cfg.model`` as detectron2's lazyconfig_train_net does (``--resume`` continues
    from the last checkpoint in ``train.output_dir``)."""
    model = instantiate(cfg.model).to(cfg.train.device)
    logger.info(f"Model:\n{model}")
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    train_loader = instantiate(cfg.dataloader.train)
    model = create_ddp_model(model, **ddp_kwargs(str(cfg.train.device), **cfg.train.ddp))
    trainer = (AMPTrainer if cfg.train.amp.enabled else SimpleTrainer)(
        model, train_loader, optimizer
    )
    checkpointer = SafeCheckpointer(
        model,
        cfg.train.output_dir,
        allow_unsafe=allow_unsafe_checkpoint,
        optimizer=optimizer,
        trainer=trainer,
    )
    main_process = comm.is_main_process()
    writers = default_writers(cfg.train.output_dir, cfg.train.max_iter)
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
            hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer)
            if main_process
            else None,
            hooks.EvalHook(cfg.train.eval_period, lambda: do_test(cfg, model)),
            hooks.PeriodicWriter(writers, period=cfg.train.log_period) if main_process else None,
        ]
    )
    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=resume)
    # The checkpoint holds the iteration that finished: start at the next one.
    start_iter = trainer.iter + 1 if resume and checkpointer.has_checkpoint() else 0
    trainer.train(start_iter, cfg.train.max_iter)


def lazy_main(args):
    """The main of ``tools/lazyconfig_train_net.py`` (detectron2's arguments)."""
    cfg = load_lazy_config(args.config_file, args.opts)
    default_setup(cfg, args)
    register_datasets(args)
    if args.eval_only:
        model = instantiate(cfg.model).to(cfg.train.device)
        SafeCheckpointer(model, allow_unsafe=args.allow_unsafe_checkpoint).load(
            cfg.train.init_checkpoint
        )
        return do_test(cfg, model)
    return do_train(cfg, resume=args.resume, allow_unsafe_checkpoint=args.allow_unsafe_checkpoint)
