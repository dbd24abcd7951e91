"""``lossbench run``: train and evaluate every loss, gather the results and write the report.

The flags that set a configuration key (``--losses``, ``--seeds``, ``--device``, ``--data``,
``--trial-cpus``, ``--preset``) are the ones the key's field declares
(:func:`lossbench.config.flagged_keys`); every other key is set with ``--set KEY=VALUE``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

__all__ = ["add_config_flag", "add_run_arguments", "config_from_flags", "main", "register"]


def add_config_flag(parser: argparse.ArgumentParser, key: str, default: str | None = None) -> None:
    """Add the flag that the field of configuration key ``key`` declares (value: text, stored
    under ``key``; None when not given, unless ``default``).

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_config_flag(parser, "seeds")
        >>> getattr(parser.parse_args(["--seeds", "0,1"]), "seeds")
        '0,1'
    """
    from lossbench.config import flagged_keys

    flag, text = flagged_keys()[key]
    metavar = key.rpartition(".")[2].upper()
    parser.add_argument(flag, dest=key, default=default, metavar=metavar, help=text)


def config_from_flags(args: argparse.Namespace, overrides: list[str]) -> Any:
    """The configuration of a command's flags: the preset's, then ``--set`` overrides, then
    each configuration flag given (a flag wins over ``--set`` of its key).

    Raises:
        ValueError: an unknown preset, key or section; a value of another type than its key's.
    """
    from lossbench.config import apply_overrides, flagged_keys, preset

    config = preset(args.preset)
    apply_overrides(config, overrides)
    given = [k for k in flagged_keys() if k != "preset" and getattr(args, k, None) is not None]
    return apply_overrides(config, [f"{key}={getattr(args, key)}" for key in given])


def register(commands: Any) -> None:
    """Add ``run`` to the sub-commands."""
    parser = commands.add_parser("run", help="train and evaluate every loss (the main job)")
    parser.set_defaults(main=main, name="run")
    add_run_arguments(parser)


def add_run_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """The arguments of ``run``, but for the configuration keys in ``skip`` (``sweep`` sets
    ``losses`` itself)."""
    from lossbench.config import flagged_keys
    from lossbench.executors import EXECUTORS

    for key in flagged_keys():
        if key not in skip:
            add_config_flag(parser, key, "quick" if key == "preset" else None)
    parser.add_argument("--out", default=None, help="run folder (default runs/<preset>)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.iterations=100 (repeatable)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan and estimated time")
    parser.add_argument("--resume", action="store_true", help="continue with its own config")
    parser.add_argument(
        "--force",
        action="store_true",
        help="start over: delete what an earlier run wrote in --out (only a run folder's own "
        "paths; --dry-run lists them)",
    )
    parser.add_argument(
        "--plan-only",
        action="store_true",
        help="create the folder, config, data and pretraining, then stop: run the trials with "
        "`lossbench trial` (e.g. a SLURM array) and gather them with `lossbench collect`",
    )
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="where trials run: in this process (default) or as Ray tasks (extra 'ray')",
    )
    parser.add_argument(
        "--address", default=None, help="Ray cluster to join: auto or HOST:PORT (default: local)"
    )
    parser.add_argument(
        "--trial-gpus",
        type=float,
        default=None,
        metavar="G",
        help="GPUs per Ray trial, fractions allowed (default 1 when there are GPUs, else 0)",
    )


def _dry_run(config: Any, out: str, force: bool, doomed: list[Path]) -> int:
    from lossbench.config import resolve_losses
    from lossbench.plan import plan

    print(plan(config, resolve_losses(config.losses)))
    if doomed:
        listed = ", ".join(p.name + ("/" if p.is_dir() else "") for p in doomed)
        verb = "deletes" if force else "would delete"
        print(f"{out} holds a run: --force {verb} {listed} (nothing else)")
    return 0


def _plan_only(config: Any, out: str, args: argparse.Namespace) -> int:
    from lossbench.config import resolve_losses
    from lossbench.run import prepare

    prepare(config, out, resume=args.resume, force=args.force)
    count = len(resolve_losses(config.losses)) * len(config.seeds)
    print(
        f"{out} is ready: run its {count} trials with `lossbench trial {out} --index K` "
        f"(K = 0..{count - 1}), then `lossbench collect {out}`"
    )
    return 0


def main(args: argparse.Namespace) -> int:
    """``lossbench run``: the same folder as :func:`lossbench.run.run`, plus a summary."""
    from lossbench.cli._console import print_run, reporting
    from lossbench.config import validate
    from lossbench.executors import Executor, LocalExecutor, ray_executor
    from lossbench.run import check_run_folder, run

    config = validate(config_from_flags(args, args.overrides))
    out = args.out or f"runs/{config.preset}"
    doomed = check_run_folder(config, out, args.force)
    if args.dry_run:
        return _dry_run(config, out, args.force, doomed)
    if args.plan_only:
        return _plan_only(config, out, args)
    executor: Executor = LocalExecutor()
    if args.executor == "ray":
        cpus = config.train.threads if getattr(args, "train.threads") is not None else None
        executor = ray_executor(args.address, args.trial_gpus, cpus)
    start = time.perf_counter()
    with reporting():
        table = run(config, out, resume=args.resume, force=args.force, executor=executor)
    print_run(Path(table), f" ({time.perf_counter() - start:.0f} s)", lead="\n")
    return 0
