#!/usr/bin/env python
"""
The tables of relational runs, from their ``metrics.json``: per run its relation accuracy at each
evaluation and the first iteration at which it reached 90% (``twins.stats.LEARNED_ACCURACY``);
per group the runs learned with the 95% Wilson interval; and each group minus the first, paired
by seed, in the accuracy of each run's last evaluation (a run stopped at its first evaluation at
90% or more counts there), with the 95% CI:

    python benchmarks/learned_runs.py --group NL "output/lookup_ins/nl_t1/seed*" \
        --group "GC r4" "output/lookup_ins/gc_r4_t1/seed*"

A run's seed is the number its folder's name ends with.
"""

import argparse
import glob
import json
import os
import re

import yaml

from nl_detectron.twins.stats import LEARNED_ACCURACY, learned_fraction, paired_difference

METRIC = "relation/accuracy"


def evaluations(run_dir, metric=METRIC):
    """[(iteration, value)] of ``metric`` in ``run_dir/metrics.json``, in order, each at the
    number of iterations trained before it: detectron2 records an evaluation during training
    after step ``iteration`` (that + 1 trained), and the one after training at ``MAX_ITER``."""
    with open(os.path.join(run_dir, "config.yaml")) as f:
        max_iter = yaml.safe_load(f)["SOLVER"]["MAX_ITER"]
    rows = []
    with open(os.path.join(run_dir, "metrics.json")) as f:
        for line in f:
            row = json.loads(line)
            if metric in row:
                iteration = row["iteration"]
                rows.append((iteration if iteration == max_iter else iteration + 1, row[metric]))
    return rows


def learned_at(curve, threshold=LEARNED_ACCURACY):
    """The first iteration whose evaluation reaches ``threshold``, or None."""
    return next((iteration for iteration, value in curve if value >= threshold), None)


def seed_of(run_dir):
    match = re.search(r"(\d+)$", os.path.basename(os.path.normpath(run_dir)))
    if match is None:
        raise ValueError(f"{run_dir}: the folder's name does not end with its seed")
    return int(match.group(1))


def group_runs(pattern):
    """{seed: curve} of the run folders matching ``pattern`` that have evaluations."""
    runs = {}
    for run_dir in sorted(glob.glob(pattern)):
        curve = evaluations(run_dir)
        if curve:
            runs[seed_of(run_dir)] = curve
    return runs


def markdown(groups):
    """The tables' lines for ``groups``: [(name, {seed: curve})]."""
    lines = [
        "| group | seed | accuracy at each evaluation (iteration: %) | learned at |",
        "|---|---|---|---|",
    ]
    for name, runs in groups:
        for seed, curve in sorted(runs.items()):
            points = ", ".join(f"{i}: {v:.1f}" for i, v in curve)
            at = learned_at(curve)
            lines.append(f"| {name} | {seed} | {points} | {at if at else 'not learned'} |")
    lines += [
        "",
        "| group | learned | 95% Wilson interval | last accuracy, mean "
        "| iterations to learn, per seed |",
        "|---|---|---|---|---|",
    ]
    for name, runs in groups:
        last = [curve[-1][1] for _, curve in sorted(runs.items())]
        count, n, (low, high) = learned_fraction(last)
        when = ", ".join(str(learned_at(c) or "-") for _, c in sorted(runs.items()))
        mean = sum(last) / len(last)
        lines.append(f"| {name} | {count} of {n} | [{low:.2f}, {high:.2f}] | {mean:.1f} | {when} |")
    (first, base), others = groups[0], groups[1:]
    if others:
        lines += ["", f"| group minus {first} | seeds | mean | 95% CI |", "|---|---|---|---|"]
    for name, runs in others:
        seeds = sorted(set(base) & set(runs))
        if len(seeds) < 2:
            lines.append(f"| {name} | {len(seeds)} | - | needs 2 paired seeds |")
            continue
        diff = paired_difference([base[s][-1][1] for s in seeds], [runs[s][-1][1] for s in seeds])
        low, high = diff["ci"]
        ci = f"[{low:+.1f}, {high:+.1f}]"
        ci = f"**{ci}**" if diff["resolved"] else ci
        lines.append(f"| {name} | {len(seeds)} | {diff['mean']:+.1f} | {ci} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--group",
        nargs=2,
        action="append",
        required=True,
        metavar=("NAME", "PATTERN"),
        help="a named group of run folders (a glob; repeatable); the first is the reference",
    )
    args = parser.parse_args(argv)
    groups = []
    for name, pattern in args.group:
        runs = group_runs(pattern)
        if not runs:
            parser.error(f"group {name!r}: no run with evaluations matches {pattern!r}")
        groups.append((name, runs))
    print("\n".join(markdown(groups)))


if __name__ == "__main__":
    main()
