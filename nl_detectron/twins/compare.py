"""
An NL config against its baseline twin (the same config with detectron2's own backbone and
keypoint head), trained with identical settings over several seeds, as one table: AP per task,
seconds per iteration, peak memory, parameters and FLOPs, each as mean and spread over the seeds,
and each variant minus the baseline as the mean of the per-seed differences with its 95%
confidence interval. Variants are named sets of overrides of the NL config ("NL" alone by
default), all compared with the one baseline. ``tools/compare_twins.py`` is its command line.
"""

import json
import math
import os
import re
import shlex
import statistics
import subprocess
import sys

import torch

from ..analysis.attention_stats import AttentionStatistics, statistics_markdown
from ..config import is_lazy, load_any_config
from ..evaluation.report import flatten_results
from ..visualization.curves import plot_curves
from .configs import twin_configs
from .cost import compare_with_baseline
from .stats import LEARNED_ACCURACY, learned_fraction, paired_difference

BASELINE = "baseline"
# The variants compared with the baseline when none is given: the NL config as it is.
DEFAULT_VARIANTS = {"NL": []}
# The summary metrics of each task put in the table, in this order ("accuracy": the relation's,
# evaluation.RelationEvaluator).
TABLE_METRICS = ("AP", "AP50", "AP75", "accuracy")


# A Python config cannot always be written out (its recipes hold lambdas): each twin is a small
# Python config that loads the user's file with the overrides, then takes the twin.
LAZY_TWIN = """\
# The {variant} twin of {config_file}, with its overrides: written by compare_twins.

from detectron2.config import LazyConfig

from nl_detectron.twins import lazy_baseline_twin

_cfg = LazyConfig.apply_overrides(LazyConfig.load({config_file!r}), {opts!r})
{take_twin}globals().update(_cfg)
"""


def parse_variants(pairs):
    """
    ``--variant NAME OVERRIDES`` pairs -> {name: [override tokens]} (OVERRIDES split as a shell
    splits them; "" for the config as it is). None or [] gives ``DEFAULT_VARIANTS``.
    """
    if not pairs:
        return dict(DEFAULT_VARIANTS)
    variants = {}
    for name, overrides in pairs:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name == BASELINE:
            raise ValueError(
                f"--variant name {name!r}: use letters, digits, '_', '.' or '-', and not "
                f"{BASELINE!r} (the baseline twin is always run)"
            )
        if name in variants:
            raise ValueError(f"--variant name {name!r} is given twice")
        variants[name] = shlex.split(overrides)
    return variants


def write_variant_configs(cfg, output_dir, config_file, opts=(), variants=None):
    """
    Write the config file of the baseline twin of ``cfg`` (loaded from ``config_file`` with
    ``opts``) and of each variant (``cfg`` with the variant's overrides) into ``output_dir``.
    A file already there with other contents is refused: its runs were made with another config.

    Returns:
        dict: name -> config file, the baseline first.
    """
    variants = DEFAULT_VARIANTS if variants is None else variants
    os.makedirs(output_dir, exist_ok=True)
    texts = {}
    lazy = is_lazy(cfg)
    for name, overrides in {BASELINE: [], **variants}.items():
        if lazy:
            texts[f"{name}.py"] = LAZY_TWIN.format(
                variant=name,
                config_file=os.path.abspath(config_file),
                opts=[*opts, *overrides],
                take_twin="_cfg = lazy_baseline_twin(_cfg)\n" if name == BASELINE else "",
            )
        else:
            variant_cfg = load_any_config(config_file, [*opts, *overrides]) if overrides else cfg
            twin = twin_configs(variant_cfg)["baseline" if name == BASELINE else "NL"]
            texts[f"{name}.yaml"] = twin.dump()
    paths = {}
    for filename, text in texts.items():
        path = os.path.join(output_dir, filename)
        if os.path.exists(path):
            with open(path) as f:
                if f.read() != text:
                    raise ValueError(
                        f"{path} holds another config than this command makes for "
                        f"{filename.rsplit('.', 1)[0]!r}: its runs are not this variant's. Use "
                        "another --output, or another name for the variant"
                    )
        with open(path, "w") as f:
            f.write(text)
        paths[filename.rsplit(".", 1)[0]] = path
    return paths


def run_dir(output_dir, variant, seed):
    return os.path.join(output_dir, variant, f"seed{seed}")


def train_twins(
    cfg, output_dir, seeds, *, config_file, opts=(), variants=None, train_args=(), log=print
):
    """
    Train and evaluate the baseline twin and every variant for every seed with
    ``python -m nl_detectron.tools.train_net`` (a Python config: ``lazyconfig_train_net``), the
    installed package's command, so that it runs from anywhere; one process (or
    ``--num-gpus`` processes) per run, into ``output_dir/{name}/seed{S}``. A run that finished
    before (its ``eval_report.json`` is there, from the same config) is reused, not trained
    again, unless ``train_args`` has ``--resume``.

    Args:
        cfg: the NL config, loaded from ``config_file`` with the overrides ``opts``.
        variants (dict[str, list[str]]): name -> overrides of the NL config (``parse_variants``).
        train_args (list[str]): more arguments of the training tool (``--num-gpus 8``,
            ``--resume``, ``--dataset ...``).
    Returns:
        dict: (name, seed) -> peak resident memory of the run's process tree in bytes.
    """
    if is_lazy(cfg):
        tool = "nl_detectron.tools.lazyconfig_train_net"
        run_opts = lambda seed, out: [f"train.seed={seed}", f"train.output_dir={out}"]  # noqa: E731
    else:
        tool = "nl_detectron.tools.train_net"
        run_opts = lambda seed, out: ["SEED", str(seed), "OUTPUT_DIR", out]  # noqa: E731
    peaks = {}
    configs = write_variant_configs(cfg, output_dir, config_file, opts, variants)
    for variant, config in configs.items():
        for seed in seeds:
            out = run_dir(output_dir, variant, seed)
            peak_file = os.path.join(out, "peak_memory.json")
            finished = os.path.exists(os.path.join(out, "eval_report.json"))
            if finished and "--resume" not in train_args:
                log(f"[compare_twins] {variant}, seed {seed}: reusing the finished run in {out}")
                if os.path.exists(peak_file):
                    with open(peak_file) as f:
                        peaks[(variant, seed)] = json.load(f)["bytes"]
                continue
            command = [
                sys.executable,
                "-m",
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
            with open(peak_file, "w") as f:
                json.dump({"bytes": peaks[(variant, seed)]}, f)
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


def collect(output_dir, seeds, peaks, names=(BASELINE, *DEFAULT_VARIANTS)):
    """
    Returns:
        dict: name (baseline and variants) -> {metric name -> [value per seed]}; metric names
        are "{task}/{AP...}", "s/iter" and "peak memory (MiB)".
    """
    table = {}
    for variant in names:
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


def _fmt(value, metric):
    return f"{value:,.{_digits(metric)}f}"


def comparison_rows(table):
    """
    Per metric and variant, the paired comparison with the baseline (``stats.paired_difference``)
    where both have a value for every seed. Returns: list of (metric, name, values, comparison),
    comparison None for the baseline's own row.
    """
    rows = []
    base = table[BASELINE]
    for metric, base_values in base.items():
        rows.append((metric, BASELINE, base_values, None))
        for name, values in table.items():
            if name == BASELINE:
                continue
            values = values.get(metric)
            if values and len(values) == len(base_values):
                rows.append((metric, name, values, paired_difference(base_values, values)))
    return rows


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
        f"Seeds {', '.join(map(str, seeds))}. Each variant minus the baseline is the mean of the "
        "per-seed differences ± their standard deviation, with its 95% confidence interval "
        "(Student's t over the seeds). A difference is resolved where the interval excludes 0; "
        "the smallest resolvable difference is the interval's half-width, what this many seeds "
        "resolve with this spread.",
        "",
        "| metric | model | mean ± sd | minus baseline | 95% CI | resolved | smallest resolvable "
        "| per seed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for metric, name, values, diff in comparison_rows(table):
        mean, spread = mean_and_spread(values)
        per_seed = ", ".join(_fmt(v, metric) for v in values)
        cells = [metric, name, f"{_fmt(mean, metric)} ± {_fmt(spread, metric)}"]
        if diff is None:
            cells += ["", "", "", ""]
        elif diff["n"] < 2:
            cells += [f"{diff['mean']:+,.{_digits(metric)}f}", "one seed: none", "-", "-"]
        else:
            low, high = diff["ci"]
            cells += [
                f"{diff['mean']:+,.{_digits(metric)}f} ± {_fmt(diff['sd'], metric)}",
                f"[{low:+,.{_digits(metric)}f}, {high:+,.{_digits(metric)}f}]",
                "**yes**" if diff["resolved"] else "no",
                f"{_fmt(diff['half_width'], metric)}",
            ]
        lines.append("| " + " | ".join([*cells, per_seed]) + " |")
    lines += learned_markdown(table)
    if "error" in model_stats:
        lines += ["", f"Params and GMACs not counted: {model_stats['error']}"]
        return "\n".join(lines) + "\n"
    b, n = model_stats["baseline"], model_stats["NL"]
    size = f"{model_stats['size'][0]}x{model_stats['size'][1]}"
    lines += [
        "",
        "| model | params (M) | inference GMACs (" + size + ") |",
        "|---|---|---|",
        f"| baseline | {b['params'] / 1e6:.2f} | {b['flops'] / 1e9:.2f} |",
        f"| NL | {n['params'] / 1e6:.2f} | {n['flops'] / 1e9:.2f} |",
    ]
    return "\n".join(lines) + "\n"


def learned_markdown(table, metric="relation/accuracy"):
    """Lines of a table of the runs per model that learned the relation (``LEARNED_ACCURACY``),
    with the 95% Wilson interval; none where the runs report no relation."""
    if metric not in table[BASELINE]:
        return []
    lines = [
        "",
        f"| model | learned (accuracy >= {LEARNED_ACCURACY:.0f}%) | 95% Wilson interval |",
        "|---|---|---|",
    ]
    for name, metrics in table.items():
        if metrics.get(metric):
            count, n, (low, high) = learned_fraction(metrics[metric])
            lines.append(f"| {name} | {count} of {n} | [{low:.2f}, {high:.2f}] |")
    return lines


def _digits(metric):
    return 3 if metric == "s/iter" else (0 if "MiB" in metric else 1)


def compare_twins(
    cfg,
    output_dir,
    seeds,
    *,
    config_file,
    opts=(),
    variants=None,
    train_args=(),
    size=None,
    log=print,
):
    """
    Train, evaluate and tabulate; write ``twins.md``, ``twins.json`` and ``curves.png`` to
    ``output_dir``. ``cfg`` is the NL config, loaded from ``config_file`` with ``opts``;
    ``variants`` as ``parse_variants`` returns (default: the NL config alone). Returns the
    Markdown table.
    """
    variants = DEFAULT_VARIANTS if variants is None else variants
    peaks = train_twins(
        cfg,
        output_dir,
        seeds,
        config_file=config_file,
        opts=opts,
        variants=variants,
        train_args=train_args,
        log=log,
    )
    names = (BASELINE, *variants)
    table = collect(output_dir, seeds, peaks, names)
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
    attention = {}
    for variant in variants:
        for seed in seeds:
            run = f"{variant} seed {seed}"
            try:
                attention[run] = trained_attention_statistics(
                    os.path.join(output_dir, f"{variant}{'.py' if is_lazy(cfg) else '.yaml'}"),
                    run_dir(output_dir, variant, seed),
                )
            except (RuntimeError, AssertionError) as e:
                # detectron2's keypoint decoding asserts on NaN heatmaps of a diverged model:
                # the runs' table must not be lost to it.
                attention[run] = {"error": f"{type(e).__name__}: {e}"[:300]}
                log(f"[compare_twins] attention statistics of {run} not computed: {e}")
    markdown += "\n## Attention statistics of the trained NL blocks\n\n"
    markdown += f"Over the first {ATTENTION_IMAGES} images of the test set (docs/attention.md).\n\n"
    for run, summary in attention.items():
        block_rows = summary["error"] if "error" in summary else statistics_markdown(summary)
        markdown += f"**{run}**\n\n{block_rows}\n"
    with open(os.path.join(output_dir, "twins.md"), "w") as f:
        f.write(markdown)
    with open(os.path.join(output_dir, "twins.json"), "w") as f:
        comparisons = [
            dict(metric=metric, variant=name, **diff)
            for metric, name, _, diff in comparison_rows(table)
            if diff is not None
        ]
        summary = {"seeds": list(seeds), "variants": variants, "runs": table}
        summary["attention_statistics"] = attention
        json.dump({**summary, "comparisons": comparisons, "model": stats}, f, indent=1)
    runs = {
        f"{variant} seed {seed}": os.path.join(run_dir(output_dir, variant, seed), "metrics.json")
        for variant in names
        for seed in seeds
    }
    plot_curves(runs, os.path.join(output_dir, "curves.png"))
    return markdown


# Images of the test set whose attention statistics the report gives, per trained NL model.
ATTENTION_IMAGES = 20


def trained_attention_statistics(config_file, run_output, num_images=ATTENTION_IMAGES):
    """
    ``AttentionStatistics.summary()`` of the model trained in ``run_output`` (its
    ``model_final.pth``) over the first ``num_images`` images of its config's test set.
    """
    from detectron2.data import DatasetCatalog
    from detectron2.data.detection_utils import read_image

    from ..engine.predictor import build_predictor, test_dataset_name

    weights = os.path.join(run_output, "model_final.pth")
    lazy = config_file.endswith(".py")
    opts = [f"train.init_checkpoint={weights}"] if lazy else ["MODEL.WEIGHTS", weights]
    cfg = load_any_config(config_file, opts)
    predictor = build_predictor(cfg)
    statistics = AttentionStatistics(predictor.model)
    for record in DatasetCatalog.get(test_dataset_name(cfg))[:num_images]:
        predictor(read_image(record["file_name"], format="BGR"))
    statistics.remove()
    return statistics.summary()


def eval_image_size(cfg):
    """(shortest edge, longest edge) of the test images of a YAML or Python config."""
    if is_lazy(cfg):
        resize = cfg.dataloader.test.mapper.augmentations[0]
        return resize.short_edge_length, resize.max_size
    return cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST
