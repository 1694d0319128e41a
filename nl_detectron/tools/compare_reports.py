"""
Compare evaluation reports (``eval_report.json``, written by tools/train_net.py) side by side:

    python tools/compare_reports.py output/baseline/eval_report.json output/nl/eval_report.json \
        --names baseline NL
"""

import argparse
import json

from ..evaluation import compare_markdown


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", help="eval_report.json files")
    parser.add_argument("--names", nargs="+", help="a column name per report")
    parser.add_argument("--output", help="also write the Markdown table to this file")
    args = parser.parse_args(argv)
    names = args.names or [f"run{i}" for i in range(1, len(args.reports) + 1)]
    if len(names) != len(args.reports):
        parser.error(f"--names has {len(names)} names for {len(args.reports)} reports")
    reports = []
    for path in args.reports:
        with open(path) as f:
            reports.append(json.load(f))
    table = compare_markdown(reports, names)
    print(table)
    if args.output:
        with open(args.output, "w") as f:
            f.write(table)


if __name__ == "__main__":
    main()
