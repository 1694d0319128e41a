#!/usr/bin/env python
"""
Does an inserted block grow from zero? A trained baseline checkpoint loaded into the NL model
(every block the identity at insertion), then the config's own optimizer, warm-up, schedule and
loader, as the COCO configs fine-tune an ImageNet-trained R50. Along the schedule, on a fixed
batch of validation images: each block's ||z - x|| / ||x|| (the size of its term against the
features it is added to), the gradient norms reaching theta, phi, g, W_z and the norm's scale,
and the box AP:

    python tools/train_net.py --config-file configs/demo/mask_rcnn_R18_NL_fast.yaml \
        MODEL.BACKBONE.NAME build_resnet_fpn_backbone SEED 1 OUTPUT_DIR output/insertion/baseline
    python benchmarks/insertion.py --config-file configs/demo/mask_rcnn_R18_NL_fast.yaml \
        --baseline-weights output/insertion/baseline/model_final.pth --ap-at 0 100 400 \
        --output output/insertion/fast.md SEED 1

Each row of ``INSERTION_ROWS`` names every setting of the norm and its init, so that a table
is the same whatever the defaults are. Trailing ``KEY VALUE`` overrides apply to every row
(``SOLVER.WARMUP_ITERS 1000`` for COCO's warm-up, ``SOLVER.MAX_ITER 100``).
"""

import argparse
import os
import tempfile

import torch

from detectron2.data import build_detection_test_loader
from detectron2.engine import HookBase
from detectron2.utils.logger import setup_logger

from nl_detectron.analysis import relative_terms
from nl_detectron.config import load_config
from nl_detectron.engine import Trainer
from nl_detectron.engine.diagnostics import GRADIENT_PARAMETERS, gradient_norms, pairwise_blocks

# name: the MODEL.NONLOCAL overrides of the norm, where it goes and its init.
INSERTION_ROWS = {
    "GN, scale 1, W_z 0": ["NORM", "GN", "NORM_AT", "out", "NORM_INIT_SCALE", "1.0"],
    "GN, scale 0 (official init)": ["NORM", "GN", "NORM_AT", "out", "NORM_INIT_SCALE", "0.0"],
    "BN, scale 0 (official)": ["NORM", "BN", "NORM_AT", "out", "NORM_INIT_SCALE", "0.0"],
    "no norm, W_z 0": ["NORM", "", "NORM_AT", "out", "NORM_INIT_SCALE", "0.0"],
    "GN before W_z, W_z 0": ["NORM", "GN", "NORM_AT", "y", "NORM_INIT_SCALE", "1.0"],
}
TERMS_AT = (1, 2, 5, 10, 25, 50, 100)
GRADIENTS_AT = (1, 10, 100)
NUM_IMAGES = 8


def row_opts(name):
    """The trailing overrides of ``INSERTION_ROWS[name]``."""
    settings = INSERTION_ROWS[name]
    return [
        part
        for key, value in zip(settings[::2], settings[1::2])
        for part in (f"MODEL.NONLOCAL.{key}", value)
    ]


def block_gradients(model):
    """{block name: {parameter: gradient norm}} of the blocks with theta, phi, g and W_z."""
    return {name: gradient_norms(block) for name, block in pairwise_blocks(model).items()}


class InsertionProbe(HookBase):
    """After the chosen iterations: the blocks' relative terms on ``inputs``, their gradients,
    and the box AP of ``evaluate(model)``."""

    def __init__(self, inputs, *, terms_at, gradients_at, ap_at, evaluate):
        self.inputs, self.evaluate = inputs, evaluate
        self.terms_at, self.gradients_at, self.ap_at = set(terms_at), set(gradients_at), set(ap_at)
        self.terms, self.gradients, self.ap, self.lr = {}, {}, {}, {}

    def after_step(self):
        it = self.trainer.iter + 1
        model = self.trainer.model
        if it in self.gradients_at:
            self.gradients[it] = block_gradients(model)
        if it in self.terms_at:
            self.terms[it] = relative_terms(model, self.inputs)
            self.lr[it] = self.trainer.optimizer.param_groups[0]["lr"]
        if it in self.ap_at:
            self.ap[it] = self.evaluate(model)


def box_ap(cfg, model):
    """The box AP of ``model`` on ``cfg.DATASETS.TEST[0]``."""
    results = Trainer.test(cfg, model)
    return results.get("bbox", {}).get("AP", float("nan"))


def validation_inputs(cfg, num_images=NUM_IMAGES):
    """The first ``num_images`` inputs of the config's first test set, as the model takes them."""
    loader = build_detection_test_loader(cfg, cfg.DATASETS.TEST[0])
    inputs = []
    for batch in loader:
        inputs += batch
        if len(inputs) >= num_images:
            break
    return inputs[:num_images]


def insert_and_train(config_file, baseline_weights, opts=(), *, terms_at=TERMS_AT, ap_at=()):
    """
    The NL model of ``config_file`` with ``opts``, loaded from the baseline checkpoint and
    trained for the config's SOLVER.MAX_ITER.

    Returns:
        dict: "terms" {iteration: {block: ||z - x|| / ||x||}}, "gradients" {iteration: {block:
        {parameter: norm}}}, "ap" {iteration: box AP} (0: at insertion), "lr" {iteration: lr}.
    """
    with tempfile.TemporaryDirectory() as output_dir:
        opts = [*opts, "MODEL.WEIGHTS", baseline_weights, "OUTPUT_DIR", output_dir]
        opts += ["TEST.EVAL_PERIOD", "0", "SOLVER.CHECKPOINT_PERIOD", "1000000"]
        cfg = load_config(config_file, opts)
        cfg.freeze()
        inputs = validation_inputs(cfg)
        # The trainer evaluates nothing itself (no test set): the probe evaluates where asked.
        train_cfg = cfg.clone()
        train_cfg.defrost()
        train_cfg.DATASETS.TEST = ()
        train_cfg.freeze()
        torch.manual_seed(cfg.SEED)
        trainer = Trainer(train_cfg)
        trainer.resume_or_load(resume=False)
        probe = InsertionProbe(
            inputs,
            terms_at=[i for i in terms_at if i <= cfg.SOLVER.MAX_ITER],
            gradients_at=[i for i in GRADIENTS_AT if i <= cfg.SOLVER.MAX_ITER],
            ap_at=[i for i in ap_at if 0 < i <= cfg.SOLVER.MAX_ITER],
            evaluate=lambda model: box_ap(cfg, model),
        )
        trainer.register_hooks([probe])
        if 0 in ap_at:
            probe.ap[0] = box_ap(cfg, trainer.model)
        trainer.train()
        return {"terms": probe.terms, "gradients": probe.gradients, "ap": probe.ap, "lr": probe.lr}


def _fmt(value):
    return "-" if value is None else f"{value:.2g}"


def markdown(results, terms_at, ap_at):
    """The tables of ``{row: insert_and_train(...)}``: terms and AP, then the gradients."""
    first = next(iter(results.values()))
    lr = " / ".join(f"{first['lr'][i]:.2g}" for i in terms_at if i in first["lr"])
    lines = [
        f"||z - x|| / ||x|| of the block (the largest over the model's blocks) after each "
        f"iteration; learning rate at those iterations {lr}\n",
        "| init | "
        + " | ".join(str(i) for i in terms_at)
        + " | "
        + " | ".join(f"box AP at {i}" for i in ap_at)
        + " |",
        "|---" * (1 + len(terms_at) + len(ap_at)) + "|",
    ]
    for name, r in results.items():
        terms = [max(r["terms"][i].values()) if i in r["terms"] else None for i in terms_at]
        ap = [f"{r['ap'][i]:.1f}" if i in r["ap"] else "-" for i in ap_at]
        lines.append(f"| {name} | {' | '.join(_fmt(t) for t in terms)} | {' | '.join(ap)} |")
    lines += [
        "\nGradient norms after the backward of each iteration (the first block):\n",
        "| init | iteration | theta | phi | g | W_z | norm scale |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        for it, per_block in r["gradients"].items():
            grads = next(iter(per_block.values()))
            cells = [_fmt(grads.get(p)) for p in (*GRADIENT_PARAMETERS, "norm_scale")]
            lines.append(f"| {name} | {it} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True, help="an NL config")
    parser.add_argument(
        "--baseline-weights", required=True, help="a trained checkpoint of its baseline twin"
    )
    parser.add_argument(
        "--rows", nargs="+", choices=list(INSERTION_ROWS), default=list(INSERTION_ROWS)
    )
    parser.add_argument(
        "--ap-at",
        nargs="*",
        type=int,
        default=[0, 100, 400],
        help="iterations after which to evaluate the box AP (0: at insertion, once); before the "
        "KEY VALUE overrides, put another option after it",
    )
    parser.add_argument("--output", help="also write the tables to this markdown file")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides for every row")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.baseline_weights):
        parser.error(f"--baseline-weights {args.baseline_weights!r}: no such file")
    setup_logger(name="nl_detectron")
    max_iter = load_config(args.config_file, args.opts).SOLVER.MAX_ITER
    terms_at = [i for i in TERMS_AT if i < max_iter] + [max_iter]
    ap_at = [i for i in args.ap_at if i <= max_iter]
    results = {}
    for k, name in enumerate(args.rows):
        # the AP at insertion is the baseline's whatever the init: evaluated for the first row
        row_ap = ap_at if k == 0 else [i for i in ap_at if i > 0]
        results[name] = insert_and_train(
            args.config_file,
            args.baseline_weights,
            [*args.opts, *row_opts(name)],
            terms_at=terms_at,
            ap_at=row_ap,
        )
    table = markdown(results, terms_at, ap_at)
    print(f"{args.config_file}, {torch.get_num_threads()} thread(s), overrides {args.opts}\n")
    print(table)
    if args.output:
        with open(args.output, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
