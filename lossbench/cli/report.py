"""``lossbench report``: tables, figures and HTML from a run's (or a score's) results."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["main", "register"]


def register(commands: Any) -> None:
    """Add ``report`` to the sub-commands."""
    from lossbench.config import NAN_POLICIES

    parser = commands.add_parser("report", help="tables, figures and HTML from a run's results")
    parser.set_defaults(main=main, name="report")
    parser.add_argument("run_dir", help="a run folder holding results.parquet or results.csv")
    parser.add_argument(
        "--baseline",
        default=None,
        help="reference loss of the paired tests (default: dice, when the run has it)",
    )
    parser.add_argument("--out", default=None, help="write the report here (default RUN_DIR)")
    parser.add_argument(
        "--bench", default=None, help="pytest-benchmark JSON of the loss benchmarks (Table 5)"
    )
    parser.add_argument(
        "--nan-policy",
        choices=NAN_POLICIES,
        default=None,
        help="a distance missing because exactly one mask is empty: 'worst' counts the image "
        "diagonal, 'exclude' leaves it out (default: the run's report.nan_policy, else worst)",
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="RUN_DIR",
        help="another run (e.g. --preset scratch) whose rankings the verdict compares (repeatable)",
    )
    parser.add_argument(
        "--show",
        action="append",
        default=[],
        metavar="LOSS",
        help="a loss to show in the qualitative figure beside the baseline and the best loss "
        "(repeatable)",
    )
    parser.add_argument(
        "--size-bins",
        default=None,
        metavar="EDGES",
        help="volume edges (mm^3) of the detection-by-size bins, e.g. 3,10,30,100,300 (the "
        "default, unless the run sets report.size_bins)",
    )


def main(args: argparse.Namespace) -> int:
    """Build the report; print its files."""
    from lossbench.cli._console import size_bins
    from lossbench.report import build_report

    paths = build_report(
        args.run_dir,
        baseline=args.baseline,
        out_dir=args.out,
        bench=args.bench,
        nan_policy=args.nan_policy,
        compare=args.compare,
        show=args.show,
        size_bins=size_bins(args.size_bins),
    )
    print("\n".join(str(p) for p in paths))
    return 0
