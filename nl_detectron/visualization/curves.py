"""Losses and AP over iterations from detectron2's ``metrics.json``, one or more runs per plot."""

import json

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DEFAULT_KEYS = (
    "total_loss",
    "loss_cls",
    "loss_box_reg",
    "loss_mask",
    "bbox/AP",
    "segm/AP",
    "keypoints/AP",
)


def read_metrics(path):
    """
    Returns:
        dict: metric name -> list of (iteration, value), from a ``metrics.json`` (JSON lines).
    Raises:
        ValueError: naming the file and line that is not JSON.
    """
    series = {}
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{number}: not a JSON line ({e})") from None
            iteration = row.get("iteration")
            for key, value in row.items():
                if key != "iteration" and isinstance(value, (int, float)):
                    series.setdefault(key, []).append((iteration, value))
    return series


def plot_curves(runs, output, keys=None):
    """
    Plot the metrics of several runs on shared axes, one panel per metric.

    Args:
        runs (dict[str, str]): run label -> path of its ``metrics.json``.
        output (str): PNG path.
        keys (list[str] or None): metrics to plot; None for those of ``DEFAULT_KEYS`` present.
    Returns:
        list[str]: the metrics plotted.
    """
    data = {label: read_metrics(path) for label, path in runs.items()}
    present = set().union(*(d.keys() for d in data.values()))
    keys = [k for k in (keys or DEFAULT_KEYS) if k in present]
    if not keys:
        raise ValueError(
            f"none of the metrics {list(keys or DEFAULT_KEYS)} in {list(runs.values())}"
        )
    cols = min(3, len(keys))
    rows = (len(keys) + cols - 1) // cols
    # A Figure of its own, drawn by the Agg canvas: no global backend switch, no pyplot state.
    fig = Figure(figsize=(5 * cols, 3.6 * rows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for label, series in data.items():
            if key in series:
                iterations, values = zip(*series[key])
                style = "o-" if len(values) < 20 else "-"
                ax.plot(iterations, values, style, label=label, markersize=4)
        ax.set_title(key)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    return keys
