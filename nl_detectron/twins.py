"""
An NL config against its baseline twin (the same config with detectron2's own backbone and
keypoint head), trained with identical settings over several seeds, as one table: AP per task,
seconds per iteration, peak memory, parameters and FLOPs, each as mean and spread over the seeds,
and NL minus baseline. ``tools/compare_twins.py`` is its command line.
"""

import json
import math
import os
import statistics
import subprocess
import sys

import torch

from .analysis import baseline_twin, compare_with_baseline, lazy_baseline_twin
from .config import add_nonlocal_config, is_lazy
from .report import flatten_results
from .visualization.curves import plot_curves

VARIANTS = ("baseline", "NL")
# The summary metrics of each task put in the table, in this order.
TABLE_METRICS = ("AP", "AP50", "AP75")


def twin_configs(cfg):
    """
    ``{"baseline": cfg without NL blocks, "NL": cfg}``. The baseline's ``MODEL.NONLOCAL`` is reset
    to the defaults: it builds no NL block, and a changed key would be refused as unused. For a
    Python config, the baseline is ``lazy_baseline_twin(cfg)``.
    """
    if is_lazy(cfg):
        return {"baseline": lazy_baseline_twin(cfg), "NL": cfg}
    baseline = baseline_twin(cfg)
    if baseline.dump() == cfg.dump():
        raise ValueError(
            f"MODEL.BACKBONE.NAME = {cfg.MODEL.BACKBONE.NAME!r} and MODEL.ROI_KEYPOINT_HEAD.NAME "
            f"= {cfg.MODEL.ROI_KEYPOINT_HEAD.NAME!r} build no NL block: give an NL config"
        )
    defaults = baseline.clone()
    add_nonlocal_config(defaults)
    baseline.MODEL.NONLOCAL = defaults.MODEL.NONLOCAL
    return {"baseline": baseline, "NL": cfg}


# A Python config cannot always be written out (its recipes hold lambdas): each twin is a small
# Python config that loads the user's file with the overrides, then takes the twin.
LAZY_TWIN = """\
# The {variant} twin of {config_file}, with its overrides: written by compare_twins.

from detectron2.config import LazyConfig

from nl_detectron.analysis import lazy_baseline_twin

_cfg = LazyConfig.apply_overrides(LazyConfig.load({config_file!r}), {opts!r})
{take_twin}globals().update(_cfg)
"""


def write_twin_configs(cfg, output_dir, config_file, opts=()):
    """
    Write the config file of each twin of ``cfg`` (loaded from ``config_file`` with ``opts``)
    into ``output_dir``.

    Returns:
        dict: variant -> config file.
    """
    os.makedirs(output_dir, exist_ok=True)
    paths = {}
    for variant, twin in twin_configs(cfg).items():
        if is_lazy(cfg):
            paths[variant] = os.path.join(output_dir, f"{variant}.py")
            text = LAZY_TWIN.format(
                variant=variant,
                config_file=os.path.abspath(config_file),
                opts=list(opts),
                take_twin="_cfg = lazy_baseline_twin(_cfg)\n" if variant == "baseline" else "",
            )
        else:
            paths[variant] = os.path.join(output_dir, f"{variant}.yaml")
            text = twin.dump()
        with open(paths[variant], "w") as f:
            f.write(text)
    return paths


def run_dir(output_dir, variant, seed):
    return os.path.join(output_dir, variant, f"seed{seed}")


def train_twins(cfg, output_dir, seeds, *, config_file, opts=(), train_args=(), log=print):
    """
    Train and evaluate both twins for every seed with ``tools/train_net.py`` (a Python config:
    ``tools/lazyconfig_train_net.py``), one process (or ``--num-gpus`` processes) per run, into
    ``output_dir/{baseline,NL}/seed{S}``.

    Args:
        cfg: the NL config, loaded from ``config_file`` with the overrides ``opts``.
        train_args (list[str]): more arguments of the training tool (``--num-gpus 8``,
            ``--resume``, ``--dataset ...``).
    Returns:
        dict: (variant, seed) -> peak resident memory of the run's process tree in bytes.
    """
    tools = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")
    if is_lazy(cfg):
        tool = os.path.join(tools, "lazyconfig_train_net.py")
        run_opts = lambda seed, out: [f"train.seed={seed}", f"train.output_dir={out}"]  # noqa: E731
    else:
        tool = os.path.join(tools, "train_net.py")
        run_opts = lambda seed, out: ["SEED", str(seed), "OUTPUT_DIR", out]  # noqa: E731
    peaks = {}
    for variant, config in write_twin_configs(cfg, output_dir, config_file, opts).items():
        for seed in seeds:
            out = run_dir(output_dir, variant, seed)
            command = [
                sys.executable,
                tool,
                "--config-file",
                config,
                *train_args,
                *run_opts(seed, out),
            ]
            log(f"[compare_twins] {variant}, seed {seed}: {' '.join(command)}")
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "train_stdout.log"), "w") as stdout:
                process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.STDOUT)
                _, status, usage = os.wait4(process.pid, 0)
            if status != 0:
                raise RuntimeError(
                    f"training {variant} with seed {seed} failed (exit status {status >> 8}); "
                    f"see {os.path.join(out, 'train_stdout.log')}"
                )
            peaks[(variant, seed)] = usage.ru_maxrss * 1024  # Linux reports KiB
    return peaks


def seconds_per_iteration(metrics_json):
    """Median of detectron2's per-iteration ``time`` in ``metrics.json`` (its first 20% left out:
    warm-up)."""
    times = []
    with open(metrics_json) as f:
        for line in f:
            row = json.loads(line)
            if "time" in row:
                times.append(row["time"])
    return statistics.median(times[len(times) // 5 :]) if times else math.nan


def collect(output_dir, seeds, peaks):
    """
    Returns:
        dict: variant -> {metric name -> [value per seed]}; metric names are "{task}/{AP...}",
        "s/iter" and "peak memory (MiB)".
    """
    table = {}
    for variant in VARIANTS:
        rows = table.setdefault(variant, {})
        for seed in seeds:
            out = run_dir(output_dir, variant, seed)
            with open(os.path.join(out, "eval_report.json")) as f:
                for task, metrics in flatten_results(json.load(f)).items():
                    for metric in TABLE_METRICS:
                        if metric in metrics:
                            rows.setdefault(f"{task}/{metric}", []).append(metrics[metric])
            rows.setdefault("s/iter", []).append(
                seconds_per_iteration(os.path.join(out, "metrics.json"))
            )
            if (variant, seed) in peaks:
                rows.setdefault("peak memory (MiB)", []).append(peaks[(variant, seed)] / 2**20)
    return table


def mean_and_spread(values):
    """Mean and sample standard deviation (0 for a single value)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def twins_markdown(table, seeds, model_stats, title):
    """
    Args:
        table: as ``collect`` returns.
        model_stats: as ``analysis.compare_with_baseline`` returns, or {"error": why} where
            it could not count.
    """
    lines = [
        f"# {title}",
        "",
        f"Mean ± standard deviation over seeds {', '.join(map(str, seeds))}; NL - baseline is "
        "the mean of the per-seed differences.",
        "",
        "| metric | baseline | NL | NL - baseline | per seed: baseline / NL |",
        "|---|---|---|---|---|",
    ]
    for metric, base in table["baseline"].items():
        nl = table["NL"].get(metric)
        if not nl or len(nl) != len(base):
            continue
        (bm, bs), (nm, ns) = mean_and_spread(base), mean_and_spread(nl)
        dm, ds = mean_and_spread([n - b for b, n in zip(base, nl)])
        digits = 3 if metric == "s/iter" else (0 if "MiB" in metric else 1)
        fmt = lambda v, digits=digits: f"{v:,.{digits}f}"  # noqa: E731
        per_seed = ", ".join(f"{fmt(b)} / {fmt(n)}" for b, n in zip(base, nl))
        lines.append(
            f"| {metric} | {fmt(bm)} ± {fmt(bs)} | {fmt(nm)} ± {fmt(ns)} | "
            f"{dm:+,.{digits}f} ± {fmt(ds)} | {per_seed} |"
        )
    if "error" in model_stats:
        lines.append(f"| params, GMACs | not counted: {model_stats['error']} | | | |")
        return "\n".join(lines) + "\n"
    b, n = model_stats["baseline"], model_stats["NL"]
    lines.append(
        f"| params (M) | {b['params'] / 1e6:.2f} | {n['params'] / 1e6:.2f} | "
        f"{(n['params'] - b['params']) / 1e6:+.2f} | |"
    )
    lines.append(
        f"| inference GMACs ({model_stats['size'][0]}x{model_stats['size'][1]}) | "
        f"{b['flops'] / 1e9:.2f} | {n['flops'] / 1e9:.2f} | "
        f"{(n['flops'] - b['flops']) / 1e9:+.2f} | |"
    )
    return "\n".join(lines) + "\n"


def compare_twins(
    cfg, output_dir, seeds, *, config_file, opts=(), train_args=(), size=None, log=print
):
    """
    Train, evaluate and tabulate; write ``twins.md``, ``twins.json`` and ``curves.png`` to
    ``output_dir``. ``cfg`` is the NL config, loaded from ``config_file`` with ``opts``. Returns
    the Markdown table.
    """
    peaks = train_twins(
        cfg, output_dir, seeds, config_file=config_file, opts=opts, train_args=train_args, log=log
    )
    table = collect(output_dir, seeds, peaks)
    size = size or eval_image_size(cfg)
    try:
        stats = compare_with_baseline(cfg, *size)
        stats["size"] = list(size)
    except (RuntimeError, torch.jit.Error) as e:
        # fvcore traces the whole model with random weights, and detectron2's keypoint
        # post-processing can assert on their heatmaps: the runs' table must not be lost to it.
        reason = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        log(f"[compare_twins] params and FLOPs not counted: fvcore's trace failed: {reason}")
        stats = {"error": f"fvcore's trace of the model failed ({reason})"}
    name = "nonlocal_resnet" if is_lazy(cfg) else cfg.MODEL.BACKBONE.NAME
    title = f"{name} ({os.path.basename(config_file)}) against its baseline twin"
    markdown = twins_markdown(table, seeds, stats, title)
    with open(os.path.join(output_dir, "twins.md"), "w") as f:
        f.write(markdown)
    with open(os.path.join(output_dir, "twins.json"), "w") as f:
        json.dump({"seeds": list(seeds), "runs": table, "model": stats}, f, indent=1)
    runs = {
        f"{variant} seed {seed}": os.path.join(run_dir(output_dir, variant, seed), "metrics.json")
        for variant in VARIANTS
        for seed in seeds
    }
    plot_curves(runs, os.path.join(output_dir, "curves.png"))
    return markdown


def eval_image_size(cfg):
    """(shortest edge, longest edge) of the test images of a YAML or Python config."""
    if is_lazy(cfg):
        resize = cfg.dataloader.test.mapper.augmentations[0]
        return resize.short_edge_length, resize.max_size
    return cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST
