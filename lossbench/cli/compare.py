"""``lossbench compare``: how well the loss rankings of several runs agree."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["main", "register"]


def register(commands: Any) -> None:
    """Add ``compare`` to the sub-commands."""
    from lossbench.config import NAN_POLICIES

    parser = commands.add_parser(
        "compare", help="how well the loss rankings of several runs agree (Kendall's tau)"
    )
    parser.set_defaults(main=main, name="compare")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="two or more run folders")
    parser.add_argument(
        "--metrics",
        default="dice,hd95,lesion_f1",
        help="comma-separated metrics, or 'all' (default dice,hd95,lesion_f1)",
    )
    parser.add_argument("--nan-policy", choices=NAN_POLICIES, default="worst")
    parser.add_argument("--out", default=None, help="also write compare.md and compare.json here")


def main(args: argparse.Namespace) -> int:
    """Print the comparison (and write it with ``--out``)."""
    from lossbench.report import compare_runs
    from lossbench.stats import SUMMARY_METRICS

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if metrics == ["all"]:
        metrics = list(SUMMARY_METRICS)
    markdown, _ = compare_runs(args.run_dirs, metrics, args.nan_policy, args.out)
    print(markdown)
    return 0
