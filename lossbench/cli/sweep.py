"""``lossbench sweep``: an ordinary run whose losses are the variants of a grid over one loss's
hyper-parameters; its report adds a sensitivity section."""

from __future__ import annotations

import argparse
from typing import Any

from lossbench.cli import run

__all__ = ["main", "register"]


def register(commands: Any) -> None:
    """Add ``sweep`` to the sub-commands."""
    parser = commands.add_parser(
        "sweep",
        help="run every variant of a grid over one loss's hyper-parameters (a sensitivity study)",
        description="Train and evaluate every combination of the grid's values as an ordinary "
        "run (its losses are the variants, e.g. hytver(alpha=0.5,beta=0.7)); the report adds "
        "heatmaps of each metric over each pair of swept parameters.",
    )
    parser.set_defaults(main=main, name="sweep")
    parser.add_argument("--loss", required=True, help="the registered loss to sweep")
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="PARAMETER=V1,V2,...",
        help="values of one hyper-parameter (repeatable; every combination is trained)",
    )
    run.add_run_arguments(parser, skip=("losses",))


def main(args: argparse.Namespace) -> int:
    """Expand the grid into loss variants, then do what ``lossbench run`` does with them."""
    from lossbench.losses.variants import grid_variants, parse_grid

    variants = grid_variants(args.loss, [parse_grid(text) for text in args.grid])
    args.losses = ",".join(variants)
    args.out = args.out or f"runs/sweep-{args.loss}"
    return run.main(args)
