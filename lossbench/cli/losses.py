"""``lossbench losses``: the registered losses, their families, defaults and citations."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["losses_table", "main", "register"]

_COMMON = ("batch", "reduction")


def losses_table(pattern: str = "*") -> str:
    """Table of the registered losses matching ``pattern``: name, family, defaults, citation.

    Parameters every built-in shares (``batch``, ``reduction``) are left out of the defaults.

    Example:
        >>> print(losses_table("ce"))  # doctest: +NORMALIZE_WHITESPACE
        name    family        defaults    citation
        ------  ------------  ----------  ----------------------------------------...
    """
    from tabulate import tabulate

    from lossbench.losses import get_loss_class, list_losses, loss_defaults

    rows = []
    for name in list_losses(pattern):
        cls = get_loss_class(name)
        defaults = ", ".join(
            f"{k}={v!r}" for k, v in loss_defaults(name).items() if k not in _COMMON
        )
        rows.append([name, getattr(cls, "family", ""), defaults, getattr(cls, "citation", "")])
    return tabulate(rows, headers=["name", "family", "defaults", "citation"])


def register(commands: Any) -> None:
    """Add ``losses`` to the sub-commands."""
    parser = commands.add_parser("losses", help="list the registered losses")
    parser.set_defaults(main=main, name="losses")
    parser.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. '*dice*'")


def main(args: argparse.Namespace) -> int:
    """Print the table; exit status 1 when no loss matches."""
    from lossbench.losses import list_losses

    if not list_losses(args.pattern):
        print(f"no registered loss matches {args.pattern!r}", file=sys.stderr)
        return 1
    print(losses_table(args.pattern))
    return 0
