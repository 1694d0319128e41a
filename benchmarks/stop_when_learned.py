#!/usr/bin/env python
"""
Run a relational training and stop it at its first evaluation whose relation accuracy reaches
90% (``twins.stats.LEARNED_ACCURACY``), as the inserted runs of docs/experiments_appendix.md were
stopped; the run's folder then holds LEARNED (the iteration and the accuracy):

    python benchmarks/stop_when_learned.py output/lookup_ins/nl_t1/seed1 -- \
        python tools/train_net.py --config-file configs/demo/faster_rcnn_R18_NL_lookup_hues.yaml \
        MODEL.WEIGHTS output/hues_pre/seed0/model_final.pth SEED 1

The command gets ``OUTPUT_DIR`` (the folder) appended and its output goes to the folder's
stdout.log. Exits with the training's status, 0 when it was stopped learned.
"""

import argparse
import json
import os
import subprocess
import sys
import time

from nl_detectron.twins.stats import LEARNED_ACCURACY

METRIC = "relation/accuracy"


def first_learned(metrics_json, threshold=LEARNED_ACCURACY):
    """(iteration, accuracy) of the first evaluation in ``metrics_json`` at ``threshold`` or
    more, or None (also while the file does not exist yet)."""
    if not os.path.exists(metrics_json):
        return None
    with open(metrics_json) as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:  # a line being written
                continue
            if row.get(METRIC, -1) >= threshold:
                return row["iteration"], row[METRIC]
    return None


def main(argv=None, poll_seconds=10):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="the run's folder (OUTPUT_DIR)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the training command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no training command: give it after --")
    output = args.output
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "stdout.log"), "w") as log:
        process = subprocess.Popen([*command, "OUTPUT_DIR", output], stdout=log, stderr=log)
        while process.poll() is None:
            time.sleep(poll_seconds)
            learned = first_learned(os.path.join(output, "metrics.json"))
            if learned is not None:
                process.terminate()
                process.wait()
                with open(os.path.join(output, "LEARNED"), "w") as f:
                    f.write(f"{learned[0]} {learned[1]}\n")
                return 0
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
