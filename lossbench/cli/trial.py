"""``lossbench trial``: run one trial of a prepared run folder, for any scheduler."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["main", "register"]


def register(commands: Any) -> None:
    """Add ``trial`` to the sub-commands."""
    parser = commands.add_parser(
        "trial", help="run one trial of a run folder made by `run --plan-only` (any scheduler)"
    )
    parser.set_defaults(main=main, name="trial")
    parser.add_argument("run_dir", help="a run folder created by `lossbench run --plan-only`")
    parser.add_argument("--loss", default=None, help="the trial's loss")
    parser.add_argument("--seed", type=int, default=None, help="the trial's seed")
    parser.add_argument(
        "--index",
        type=int,
        default=None,
        help="the trial's 0-based position in the grid (e.g. $SLURM_ARRAY_TASK_ID), instead of "
        "--loss and --seed",
    )
    parser.add_argument(
        "--list", action="store_true", help="print the grid, one 'index loss seed' per line"
    )


def main(args: argparse.Namespace) -> int:
    """Run the trial named by ``--loss``/``--seed`` or ``--index``, or list the grid."""
    from lossbench.trial import read_run, run_trial
    from lossbench.tuning import all_trials

    run = read_run(args.run_dir)
    grid = all_trials(run)
    if args.list:
        print("\n".join(f"{i} {loss} {seed}" for i, (loss, seed) in enumerate(grid)))
        return 0
    if args.index is not None:
        if not 0 <= args.index < len(grid):
            raise ValueError(f"--index must be in 0..{len(grid) - 1}, got {args.index}")
        loss, seed = grid[args.index]
    elif args.loss is None or args.seed is None:
        raise ValueError("give --loss and --seed, or --index")
    else:
        loss, seed = args.loss, args.seed
    outcome = run_trial(run.layout.root, loss, seed)
    if outcome["status"] == "failed":
        print(f"{loss} seed {seed} failed: {outcome['error']}", file=sys.stderr)
        return 1
    print(f"{loss} seed {seed}: {outcome['status']} ({run.layout.trial(loss, seed).metrics})")
    return 0
