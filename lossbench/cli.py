"""Command line: ``lossbench run | report | compare | losses | data``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from lossbench import __version__
from lossbench.data import check_dataset, load_dataset, synthesize
from lossbench.losses import get_loss_class, list_losses, loss_defaults

__all__ = ["FLAGS", "as_flags", "losses_table", "main"]

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lossbench",
        description="Benchmark segmentation losses on longitudinal MS new-lesion segmentation.",
    )
    parser.add_argument("--version", action="version", version=f"lossbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train and evaluate every loss (the main job)")
    run.add_argument("--losses", default="all", help="comma-separated loss names, or 'all'")
    run.add_argument(
        "--preset", default="quick", help="quick (default), standard, scratch or paper"
    )
    run.add_argument("--data", default=None, help="'synthetic' (default) or an MSSEG-2 folder")
    run.add_argument("--seeds", default=None, help="comma-separated seeds, e.g. 0,1,2")
    run.add_argument("--out", default=None, help="run folder (default runs/<preset>)")
    run.add_argument("--device", default=None, help="auto (default), cpu or cuda")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.iterations=100 (repeatable)",
    )  # fmt: skip
    run.add_argument("--dry-run", action="store_true", help="print the plan and estimated time")
    run.add_argument("--resume", action="store_true", help="continue a run with its own config")
    run.add_argument("--force", action="store_true", help="delete the run folder and start over")
    report = commands.add_parser("report", help="tables, figures and HTML from a run's results")
    report.add_argument("run_dir", help="a run folder holding results.parquet or results.csv")
    report.add_argument("--baseline", default="dice", help="reference loss of the paired tests")
    report.add_argument("--out", default=None, help="write the report here (default RUN_DIR)")
    report.add_argument(
        "--bench", default=None, help="pytest-benchmark JSON of the loss benchmarks (Table 5)"
    )
    report.add_argument(
        "--nan-policy", choices=("worst", "exclude"), default=None,
        help="a distance missing because exactly one mask is empty: 'worst' counts the image "
        "diagonal, 'exclude' leaves it out (default: the run's report.nan_policy, else worst)",
    )  # fmt: skip
    report.add_argument(
        "--compare", action="append", default=[], metavar="RUN_DIR",
        help="another run (e.g. --preset scratch) whose rankings the verdict compares (repeatable)",
    )  # fmt: skip
    report.add_argument(
        "--show", action="append", default=[], metavar="LOSS",
        help="a loss to show in the qualitative figure beside the baseline and the best loss "
        "(repeatable)",
    )  # fmt: skip
    compare = commands.add_parser(
        "compare", help="how well the loss rankings of several runs agree (Kendall's tau)"
    )
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="two or more run folders")
    compare.add_argument(
        "--metrics", default="dice,hd95,lesion_f1",
        help="comma-separated metrics, or 'all' (default dice,hd95,lesion_f1)",
    )  # fmt: skip
    compare.add_argument("--nan-policy", choices=("worst", "exclude"), default="worst")
    compare.add_argument("--out", default=None, help="also write compare.md and compare.json here")
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
        "--lesion-free", type=float, default=0.25,
        help="share of cases without new lesions, rounded up (default 0.25)",
    )  # fmt: skip
    synth.add_argument(
        "--preview", action="store_true", help="also save OUT/preview.png (axial montage)"
    )
    check = data_commands.add_parser("check", help="validate every case of an MSSEG-2 folder")
    check.add_argument("root", help="dataset folder (one sub-folder per case)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lossbench`` console script; returns the exit status.

    Example:
        >>> main(["losses", "hytver"])  # doctest: +ELLIPSIS
        name    family    defaults ...
        0
    """
    args = _parser().parse_args(argv)
    command = args.command if args.command != "data" else f"data {args.data_command}"
    return _COMMANDS[command](args)


FLAGS = {"losses": "--losses", "seeds": "--seeds", "device": "--device", "data.source": "--data",
         "preset": "--preset"}  # fmt: skip
"""Config keys that the ``run`` command sets through a flag of their own; every other key is
set with ``--set KEY=VALUE``."""


def as_flags(message: str) -> str:
    """A library message that starts with a config key, reworded with the command-line flag.

    Example:
        >>> as_flags("data.source must be 'synthetic' or a dataset folder; no folder at x")
        "--data must be 'synthetic' or a dataset folder; no folder at x"
        >>> as_flags("train.lr must be positive, got 0.0")
        '--set train.lr must be positive, got 0.0'
    """
    key = message.split(" ", 1)[0].rstrip(":")
    if key in FLAGS:
        return FLAGS[key] + message[len(key) :]
    if "." in key and key.replace(".", "").replace("_", "").isalnum() and key.islower():
        return f"--set {message}"
    return message


def _report(args: argparse.Namespace) -> int:
    from lossbench.report import build_report

    try:
        paths = build_report(
            args.run_dir, baseline=args.baseline, out_dir=args.out, bench=args.bench,
            nan_policy=args.nan_policy, compare=args.compare, show=args.show,
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as exc:
        print(f"lossbench report: {exc}", file=sys.stderr)
        return 2
    print("\n".join(str(p) for p in paths))
    return 0


def _losses(args: argparse.Namespace) -> int:
    if not list_losses(args.pattern):
        print(f"no registered loss matches {args.pattern!r}", file=sys.stderr)
        return 1
    print(losses_table(args.pattern))
    return 0


def _check(args: argparse.Namespace) -> int:
    problems = check_dataset(args.root)
    for line in problems:
        print(line)
    if not problems:
        print(f"{args.root}: every case is readable and consistent")
    return 1 if problems else 0


def _run(args: argparse.Namespace) -> int:
    from lossbench.config import apply_overrides, preset, validate
    from lossbench.run import RunFolderInUseError, plan, resolve_losses, run
    from lossbench.stats import overview

    try:
        config = preset(args.preset)
        config.losses = [n.strip() for n in args.losses.split(",") if n.strip()]
        if args.data is not None:
            config.data.source = args.data
        if args.seeds is not None:
            config.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        if args.device is not None:
            config.device = args.device
        apply_overrides(config, args.overrides)
        names = resolve_losses(validate(config).losses)
        if args.dry_run:
            print(plan(config, names))
            return 0
        out = args.out or f"runs/{config.preset}"
        start = time.perf_counter()
        table_path = run(config, out, resume=args.resume, force=args.force)
    except (ValueError, FileNotFoundError, RunFolderInUseError) as exc:
        print(f"lossbench run: {as_flags(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    except OSError as exc:  # a full disk, a lost mount: every finished step is on disk
        print(f"lossbench run: {exc}; what finished is kept: fix the cause and rerun the same "
              "command to resume", file=sys.stderr)  # fmt: skip
        return 1
    import pandas as pd

    from lossbench.report import read_config

    table = pd.read_csv(table_path, dtype={"case_id": str})
    print(f"\n{len(table)} rows in {table_path} ({time.perf_counter() - start:.0f} s)")
    stored = read_config(Path(table_path).parent)
    policy = stored.report.nan_policy if stored else "worst"
    if len(table):
        print(f"means over the cases with lesions (missing distances: {policy}):")
        print(overview(table, policy).round(3).to_string())
    if len(config.seeds) == 1:
        print("one seed cannot rank losses: seed-to-seed spread is as large as the gaps between "
              "them; use --preset standard (3 seeds) for conclusions")  # fmt: skip
    timing: dict[str, float] = {}
    if len(table):
        from lossbench.report import build_report
        from lossbench.run import record_timing

        clock = time.perf_counter()
        markdown, page = build_report(Path(table_path).parent)
        timing = record_timing(Path(table_path).parent, "report", time.perf_counter() - clock)
        print(f"report: {markdown} and {page}")
    if timing:
        print("wall time by phase: " + ", ".join(f"{k} {v:.0f} s" for k, v in timing.items()))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from lossbench.report import compare_runs
    from lossbench.stats import SUMMARY_METRICS

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if metrics == ["all"]:
        metrics = list(SUMMARY_METRICS)
    try:
        markdown, _ = compare_runs(args.run_dirs, metrics, args.nan_policy, args.out)
    except (ValueError, FileNotFoundError) as exc:
        print(f"lossbench compare: {exc}", file=sys.stderr)
        return 2
    print(markdown)
    return 0


def _synth(args: argparse.Namespace) -> int:
    from lossbench.data.preview import save_preview

    start = time.perf_counter()
    try:
        folders = synthesize(
            args.out, args.cases, args.seed, tuple(args.shape), tuple(args.spacing),
            progress=True, lesion_free=args.lesion_free,
        )  # fmt: skip
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


_COMMANDS = {
    "run": _run,
    "report": _report,
    "compare": _compare,
    "losses": _losses,
    "data synth": _synth,
    "data check": _check,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
