"""
Where a demo run's AP falls among the runs measured for its config (configs/demo/
measured_runs.json: other seeds and other machines, which train other models):

    python tools/expected_range.py --config-file configs/demo/mask_rcnn_R50_NL_shapes.yaml \
        --report output/demo/eval_report.json

`make demo` and `make demo-fast` run it after training.
"""

import argparse
import json
import os
import sys

from ..evaluation.expected_range import expected_range_lines
from ..model_zoo import configs_root

MEASURED_RUNS = os.path.join(configs_root(), "demo", "measured_runs.json")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True, help="the demo config that was trained")
    parser.add_argument("--report", required=True, help="its eval_report.json")
    parser.add_argument("--runs", default=MEASURED_RUNS, help="the measured runs (JSON)")
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
    with open(args.report) as f:
        lines = expected_range_lines(json.load(f), measured[name])
    print(f"This run of {name} among the runs measured for it ({measured[name]['source']}):")
    for line in lines:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
