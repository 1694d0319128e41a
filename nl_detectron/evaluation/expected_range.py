"""Where a demo's AP falls among the runs measured for it (``tools/expected_range.py``)."""

import math

from .report import flatten_results


def range_position(value, measured):
    """
    Where ``value`` falls among ``measured`` (the same metric of other runs): a sentence with
    their range, mean and sample standard deviation, and how many lie below ``value``.
    """
    low, high = min(measured), max(measured)
    mean = sum(measured) / len(measured)
    sd = math.sqrt(sum((v - mean) ** 2 for v in measured) / max(len(measured) - 1, 1))
    if value < low:
        where = "below all of them"
    elif value > high:
        where = "above all of them"
    else:
        where = f"inside their range, above {sum(v < value for v in measured)} of them"
    return (
        f"{value:.1f}: {where} (the {len(measured)} measured runs: {low:.1f} to {high:.1f}, "
        f"mean {mean:.1f} ± {sd:.1f})"
    )


def expected_range_lines(results, runs):
    """
    Args:
        results (dict): an evaluation report (``eval_report.json``).
        runs (dict): ``{"source": how they were measured, "runs": [{metric: value, ...}]}``,
            metrics named "{task}/{metric}" (``bbox/AP``).
    Returns:
        list[str]: one line per metric the runs have, for the report's value of it.
    """
    flat = flatten_results(results)
    lines = []
    for metric in runs["runs"][0]:
        task, _, name = metric.rpartition("/")
        if task in flat and name in flat[task]:
            measured = [run[metric] for run in runs["runs"] if metric in run]
            lines.append(f"{metric} {range_position(flat[task][name], measured)}")
    return lines
