"""Command line: ``lossbench losses [PATTERN]``, ``lossbench data synth|check``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tabulate import tabulate

from lossbench import __version__
from lossbench.data import check_dataset, load_dataset, synthesize
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
    data = commands.add_parser("data", help="generate or check a dataset")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    synth = data_commands.add_parser(
        "synth", help="write synthetic longitudinal phantom cases in MSSEG-2's layout"
    )
    synth.add_argument("--out", required=True, help="folder to write the cases into")
    synth.add_argument("--cases", type=int, default=40, help="number of cases (default 40)")
    synth.add_argument("--seed", type=int, default=0, help="seed of the whole set (default 0)")
    synth.add_argument("--shape", type=int, nargs=3, default=(64, 80, 64), metavar=("X", "Y", "Z"))
    synth.add_argument(
        "--spacing", type=float, nargs=3, default=(1.0, 1.0, 1.0), metavar=("SX", "SY", "SZ")
    )
    synth.add_argument(
        "--preview", action="store_true", help="also save OUT/preview.png (axial montage)"
    )
    check = data_commands.add_parser("check", help="validate every case of an MSSEG-2 folder")
    check.add_argument("root", help="dataset folder (one sub-folder per case)")
    args = parser.parse_args(argv)

    if args.command == "losses":
        if not list_losses(args.pattern):
            print(f"no registered loss matches {args.pattern!r}", file=sys.stderr)
            return 1
        print(losses_table(args.pattern))
    elif args.data_command == "synth":
        return _synth(args)
    else:
        problems = check_dataset(args.root)
        for line in problems:
            print(line)
        if not problems:
            print(f"{args.root}: every case is readable and consistent")
        return 1 if problems else 0
    return 0


def _synth(args: argparse.Namespace) -> int:
    import time

    from lossbench.data.preview import save_preview

    start = time.perf_counter()
    try:
        folders = synthesize(
            args.out, args.cases, args.seed, tuple(args.shape), tuple(args.spacing), progress=True
        )
    except ValueError as exc:
        print(f"lossbench data synth: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(folders)} cases to {args.out} in {time.perf_counter() - start:.1f} s")
    if args.preview:
        cases = load_dataset(args.out)
        case = next((c for c in cases if c.label.any()), cases[0])
        path = save_preview(
            case.baseline, case.followup, case.label, f"{args.out}/preview.png", case.case_id
        )
        print(f"preview: {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
