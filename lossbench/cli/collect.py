"""``lossbench collect``: gather a run folder's finished trials into its results and report."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["main", "register"]


def register(commands: Any) -> None:
    """Add ``collect`` to the sub-commands."""
    parser = commands.add_parser(
        "collect", help="gather a run folder's finished trials into the results and the report"
    )
    parser.set_defaults(main=main, name="collect")
    parser.add_argument("run_dir", help="a run folder")


def main(args: argparse.Namespace) -> int:
    """Gather, report, and list the missing trials (exit status 1 while any is missing)."""
    from lossbench.cli._console import print_run, reporting
    from lossbench.run import collect, missing_trials

    with reporting():
        table_path = collect(args.run_dir)
    missing = missing_trials(args.run_dir)
    print_run(table_path)
    if missing:
        print(
            f"{len(missing)} trial(s) missing: "
            + ", ".join(f"{loss} seed {seed}" for loss, seed in missing)
        )
        return 1
    return 0
