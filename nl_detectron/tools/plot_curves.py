"""
Plot losses and AP over iterations of one or more runs (their metrics.json) into one PNG:

    python tools/plot_curves.py --run NL output/nl/metrics.json --run baseline \
        output/baseline/metrics.json --output curves.png
"""

import argparse

from ..visualization.curves import plot_curves


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run",
        nargs=2,
        action="append",
        required=True,
        metavar=("LABEL", "METRICS_JSON"),
        help="a run to plot (repeatable)",
    )
    parser.add_argument("--output", required=True, help="PNG file")
    parser.add_argument("--keys", nargs="+", help="metrics to plot (default: losses and APs)")
    args = parser.parse_args(argv)
    keys = plot_curves(dict(args.run), args.output, args.keys)
    print(f"Wrote {args.output}: {', '.join(keys)}")


if __name__ == "__main__":
    main()
