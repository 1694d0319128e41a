"""COCO evaluation results as report files (JSON and Markdown), and two reports side by side."""

import json
import math
import os

REPORT_NAME = "eval_report"


def _fmt(value):
    return (
        "nan"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.2f}"
    )


def report_markdown(results, title="COCO evaluation"):
    """
    Args:
        results (dict): detectron2's evaluation results, {dataset or task: {metric: value}}
            (``inference_on_dataset`` / ``DefaultTrainer.test``), possibly nested by dataset.
    """
    lines = [f"# {title}", ""]
    for task, metrics in flatten_results(results).items():
        summary = {k: v for k, v in metrics.items() if not k.startswith("AP-")}
        per_class = {k[3:]: v for k, v in metrics.items() if k.startswith("AP-")}
        lines += [
            f"## {task}",
            "",
            "| " + " | ".join(summary) + " |",
            "|" + "---|" * len(summary),
            "| " + " | ".join(map(_fmt, summary.values())) + " |",
            "",
        ]
        if per_class:
            lines += ["| category | AP |", "|---|---|"]
            lines += [f"| {name} | {_fmt(v)} |" for name, v in per_class.items()] + [""]
    return "\n".join(lines)


def flatten_results(results, prefix=""):
    """{"bbox": {...}} or {"dataset": {"bbox": {...}}} -> {"[dataset/]bbox": {...}}."""
    flat = {}
    for key, value in results.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            flat.update(flatten_results(value, f"{prefix}{key}/"))
        elif isinstance(value, dict):
            flat[f"{prefix}{key}"] = value
    return flat


def write_report(results, output_dir, title="COCO evaluation"):
    """Write ``eval_report.json`` and ``eval_report.md`` to ``output_dir``; return their paths."""
    os.makedirs(output_dir, exist_ok=True)
    json_path = os.path.join(output_dir, REPORT_NAME + ".json")
    md_path = os.path.join(output_dir, REPORT_NAME + ".md")
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1)
    with open(md_path, "w") as f:
        f.write(report_markdown(results, title))
    return json_path, md_path


def compare_markdown(reports, names):
    """
    Side-by-side Markdown of the summary metrics of several reports, with the difference of each
    to the first.

    Args:
        reports (list[dict]): results as written by ``write_report``.
        names (list[str]): a column name per report.
    """
    flats = [flatten_results(r) for r in reports]
    header = ["task", "metric", *names, *[f"{n} - {names[0]}" for n in names[1:]]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for task in flats[0]:
        for metric, base in flats[0][task].items():
            if metric.startswith("AP-"):
                continue
            values = [f.get(task, {}).get(metric) for f in flats]
            deltas = [None if v is None or base is None else v - base for v in values[1:]]
            lines.append(
                f"| {task} | {metric} | "
                + " | ".join(map(_fmt, values))
                + " | "
                + " | ".join("-" if d is None else f"{d:+.2f}" for d in deltas)
                + " |"
            )
    return "\n".join(lines) + "\n"
