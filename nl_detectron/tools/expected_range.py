"""
Where a demo run's AP falls among the runs measured for its config with the same block init
(configs/demo/measured_runs.json: other seeds and other machines, which train other models); a
run of an init with no measured runs is said to be so, not placed:

    python tools/expected_range.py --config-file configs/demo/mask_rcnn_R50_NL_shapes.yaml \
        --report output/demo/eval_report.json

`make demo` and `make demo-fast` run it after training.
"""

import argparse
import json
import os
import sys

from ..config import load_config
from ..evaluation.expected_range import expected_range_lines
from ..model_zoo import configs_root

MEASURED_RUNS = os.path.join(configs_root(), "demo", "measured_runs.json")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True, help="the demo config that was trained")
    parser.add_argument("--report", required=True, help="its eval_report.json")
    parser.add_argument("--runs", default=MEASURED_RUNS, help="the measured runs (JSON)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="the run's KEY VALUE overrides")
    args = parser.parse_args(argv)
    with open(args.runs) as f:
        measured = json.load(f)
    name = os.path.basename(args.config_file)
    if name not in measured:
        print(
            f"{args.runs} has no measured runs of {name}; it has {sorted(measured)}",
            file=sys.stderr,
        )
        return 2
    trained = load_config(args.config_file, args.opts).MODEL.NONLOCAL
    entry = matching_runs(measured[name], trained)
    if entry is None:
        inits = "; ".join(_settings(e["settings"]) for e in measured[name])
        this = _settings({k: trained[k] for k in measured[name][0]["settings"]})
        print(
            f"This run of {name} ({this}) "
            f"is not placed: its runs were measured with another init ({inits}), which trains "
            "another model (docs/demo.md)"
        )
        return 0
    with open(args.report) as f:
        lines = expected_range_lines(json.load(f), entry)
    print(
        f"This run of {name} among the runs measured for it, {_settings(entry['settings'])} "
        f"({entry['source']}):"
    )
    for line in lines:
        print(f"  {line}")
    return 0


def matching_runs(entries, nonlocal_cfg):
    """The entry of ``entries`` whose block settings are ``nonlocal_cfg``'s, or None."""
    for entry in entries:
        if all(nonlocal_cfg[key] == value for key, value in entry["settings"].items()):
            return entry
    return None


def _settings(settings):
    return ", ".join(f"MODEL.NONLOCAL.{key} {value!r}" for key, value in settings.items())


if __name__ == "__main__":
    raise SystemExit(main())
