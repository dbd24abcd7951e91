"""Command line: ``lossbench losses [PATTERN]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tabulate import tabulate

from lossbench import __version__
from lossbench.losses import get_loss_class, list_losses, loss_defaults

__all__ = ["losses_table", "main"]

_COMMON = ("batch", "reduction")


def losses_table(pattern: str = "*") -> str:
    """Table of the registered losses matching ``pattern``: name, family, defaults, citation.

    Parameters every built-in shares (``batch``, ``reduction``) are left out of the defaults.

    Example:
        >>> print(losses_table("ce"))  # doctest: +NORMALIZE_WHITESPACE
        name    family        defaults    citation
        ------  ------------  ----------  ----------------------------------------...
    """
    rows = []
    for name in list_losses(pattern):
        cls = get_loss_class(name)
        defaults = ", ".join(
            f"{k}={v!r}" for k, v in loss_defaults(name).items() if k not in _COMMON
        )
        rows.append([name, getattr(cls, "family", ""), defaults, getattr(cls, "citation", "")])
    return tabulate(rows, headers=["name", "family", "defaults", "citation"])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lossbench`` console script; returns the exit status.

    Example:
        >>> main(["losses", "hytver"])  # doctest: +ELLIPSIS
        name    family    defaults ...
        0
    """
    parser = argparse.ArgumentParser(
        prog="lossbench",
        description="Benchmark segmentation losses on longitudinal MS new-lesion segmentation.",
    )
    parser.add_argument("--version", action="version", version=f"lossbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    losses = commands.add_parser("losses", help="list the registered losses")
    losses.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. '*dice*'")
    args = parser.parse_args(argv)

    if args.command == "losses":
        table = losses_table(args.pattern)
        if not table.strip() or len(list_losses(args.pattern)) == 0:
            print(f"no registered loss matches {args.pattern!r}", file=sys.stderr)
            return 1
        print(table)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
