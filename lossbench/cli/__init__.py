"""Command line: ``lossbench run | sweep | trial | collect | score | report | compare | losses |
data | nnunet``, one module per command, each with ``register(subparsers)`` and ``main(args)``.

The entry point :func:`main` builds the parser from the command modules and is the one place
that turns a user error into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence

from lossbench import __version__
from lossbench.cli import (
    collect,
    compare,
    data,
    losses,
    nnunet,
    report,
    run,
    score,
    sweep,
    trial,
)

__all__ = ["build_parser", "explain", "main"]

COMMANDS = (run, sweep, trial, collect, score, report, compare, losses, data, nnunet)
"""The command modules, in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The ``lossbench`` parser: each command module registers its own sub-command.

    Example:
        >>> build_parser().parse_args(["losses", "*dice*"]).pattern
        '*dice*'
    """
    parser = argparse.ArgumentParser(
        prog="lossbench",
        description="Benchmark segmentation losses on longitudinal MS new-lesion segmentation.",
        epilog="A user error ends with one line on stderr and exit status 2; set LOSSBENCH_DEBUG=1 "
        "to see its traceback.",
    )
    parser.add_argument("--version", action="version", version=f"lossbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(commands)
    return parser


def explain(exc: BaseException) -> str:
    """One line for a user error: the error's own message, or, for the file system's errors,
    what happened to which path and how to fix it. A configuration value set by a flag of the
    command is named by that flag (``--seeds``), any other by ``--set KEY``.

    Example:
        >>> print(explain(OSError(errno.EACCES, "Permission denied", "scores/results.csv")))
        permission denied: scores/results.csv; choose a place you can write to (or read)
        >>> from lossbench.config import ConfigError
        >>> explain(ConfigError("train.lr", "train.lr must be in (0, 1], got 2.0"))
        '--set train.lr must be in (0, 1], got 2.0'
    """
    key = getattr(exc, "key", None)
    if isinstance(key, str) and str(exc).startswith(key):
        from lossbench.config import flag_of

        return " ".join((flag_of(key) + str(exc)[len(key) :]).split())
    if not isinstance(exc, OSError) or exc.errno is None:
        return " ".join(str(exc).split()) or type(exc).__name__
    path = exc.filename if exc.filename is not None else "a file"
    fixes = {
        errno.ENOSPC: f"no space left on the device of {path}: free some space and rerun the "
        "same command; what finished is kept",
        errno.EDQUOT: f"disk quota exceeded writing {path}: free some space and rerun the same "
        "command; what finished is kept",
        errno.EACCES: f"permission denied: {path}; choose a place you can write to (or read)",
        errno.EPERM: f"operation not permitted: {path}; choose a place you can write to",
        errno.EROFS: f"{path} is on a read-only file system; choose a place you can write to",
        errno.EEXIST: f"{path} already exists; choose another path",
        errno.ENOTDIR: f"{path}: a part of this path is a file, not a folder; give a folder",
        errno.EISDIR: f"{path} is a folder, not a file",
        errno.ENOENT: f"no such file or folder: {path}",
    }
    return fixes.get(exc.errno, f"{exc.strerror or exc}: {path}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lossbench`` console script; returns the exit status.

    A user error (a value, file or folder lossbench refuses, a file system that refuses a write)
    ends with one line on stderr, ``lossbench COMMAND: what and how to fix it``, and exit status
    2; ``LOSSBENCH_DEBUG=1`` re-raises it with its traceback. Ctrl-C exits with 130.

    Example:
        >>> main(["losses", "hytver"])  # doctest: +ELLIPSIS
        name    family    defaults ...
        0
    """
    from lossbench._lock import RunFolderInUseError

    args = build_parser().parse_args(argv)
    try:
        return int(args.main(args))
    except KeyboardInterrupt:
        print("\ninterrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, ImportError, RunFolderInUseError) as exc:
        if os.environ.get("LOSSBENCH_DEBUG", "") not in ("", "0"):
            raise
        print(f"lossbench {args.name}: {explain(exc)}", file=sys.stderr)
        return 2
