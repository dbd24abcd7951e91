"""Command line: ``lossbench run | trial | collect | score | report | compare | losses | data |
nnunet``."""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lossbench import __version__

__all__ = ["FLAGS", "as_flags", "explain", "losses_table", "main"]

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lossbench",
        description="Benchmark segmentation losses on longitudinal MS new-lesion segmentation.",
        epilog="A user error ends with one line on stderr and exit status 2; set LOSSBENCH_DEBUG=1 "
        "to see its traceback.",
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
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.iterations=100 (repeatable)",
    )
    run.add_argument("--dry-run", action="store_true", help="print the plan and estimated time")
    run.add_argument("--resume", action="store_true", help="continue a run with its own config")
    run.add_argument(
        "--force",
        action="store_true",
        help="start over: delete what an earlier run wrote in --out (only a run folder's own "
        "paths; --dry-run lists them)",
    )
    run.add_argument(
        "--plan-only",
        action="store_true",
        help="create the folder, config, data and pretraining, then stop: run the trials with "
        "`lossbench trial` (e.g. a SLURM array) and gather them with `lossbench collect`",
    )
    run.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where trials run: in this process (default) or as Ray tasks (extra 'ray')",
    )
    run.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join: auto or HOST:PORT (default: start a local Ray)",
    )
    run.add_argument(
        "--trial-gpus",
        type=float,
        default=None,
        metavar="G",
        help="GPUs per Ray trial, fractions allowed (default 1 when there are GPUs, else 0)",
    )
    run.add_argument(
        "--trial-cpus",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads per trial, on either executor (sets train.threads; Ray asks for N CPUs "
        "per trial). Default: the machine's cores for a CPU run, 1 CPU per trial with a GPU",
    )
    trial = commands.add_parser(
        "trial", help="run one trial of a run folder made by `run --plan-only` (any scheduler)"
    )
    trial.add_argument("run_dir", help="a run folder created by `lossbench run --plan-only`")
    trial.add_argument("--loss", default=None, help="the trial's loss")
    trial.add_argument("--seed", type=int, default=None, help="the trial's seed")
    trial.add_argument(
        "--index",
        type=int,
        default=None,
        help="the trial's 0-based position in the grid (e.g. $SLURM_ARRAY_TASK_ID), instead of "
        "--loss and --seed",
    )
    trial.add_argument(
        "--list", action="store_true", help="print the grid, one 'index loss seed' per line"
    )
    collect = commands.add_parser(
        "collect", help="gather a run folder's finished trials into the results and the report"
    )
    collect.add_argument("run_dir", help="a run folder")
    score = commands.add_parser(
        "score", help="MSSEG-2's per-case metrics for any model's predictions (one or more methods)"
    )
    score.add_argument(
        "--ref",
        required=True,
        metavar="REF_DIR",
        help="reference masks: <case>.nii.gz files, an nnU-Net dataset (its labelsTs/) or MSSEG-2 "
        "case folders",
    )
    score.add_argument(
        "--pred",
        action="append",
        required=True,
        metavar="NAME=DIR",
        help="a method's predictions, <case>.nii.gz named like the reference (repeatable)",
    )
    score.add_argument(
        "--out", default=None, help="write results.csv|parquet here (default: print)"
    )
    score.add_argument(
        "--allow-missing",
        action="store_true",
        help="score a missing prediction as an empty mask (flagged pred_missing), don't stop",
    )
    score.add_argument(
        "--label",
        type=int,
        default=None,
        metavar="K",
        help="the lesion label of multi-label masks (every other label is background)",
    )
    score.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    score.add_argument(
        "--baseline",
        default=None,
        help="the method the report's paired comparison is against (default: the first --pred)",
    )
    score.add_argument("--min-lesion-mm3", type=float, default=3.0, help="lesion size limit (3)")
    score.add_argument("--alpha", type=float, default=0.10, help="detection alpha (0.10)")
    score.add_argument("--beta", type=float, default=0.70, help="detection beta (0.70)")
    score.add_argument("--gamma", type=float, default=0.65, help="detection gamma (0.65)")
    score.add_argument(
        "--connectivity", type=int, choices=(6, 18, 26), default=6, help="lesion connectivity (6)"
    )
    score.add_argument("--nsd-tolerance", type=float, default=1.0, help="NSD tolerance, mm (1)")
    score.add_argument(
        "--affine-tolerance",
        type=float,
        default=1e-3,
        help="largest difference (mm) between a prediction's and its reference's affine (1e-3)",
    )
    report = commands.add_parser("report", help="tables, figures and HTML from a run's results")
    report.add_argument("run_dir", help="a run folder holding results.parquet or results.csv")
    report.add_argument(
        "--baseline",
        default=None,
        help="reference loss of the paired tests (default: dice, when the run has it)",
    )
    report.add_argument("--out", default=None, help="write the report here (default RUN_DIR)")
    report.add_argument(
        "--bench", default=None, help="pytest-benchmark JSON of the loss benchmarks (Table 5)"
    )
    report.add_argument(
        "--nan-policy",
        choices=("worst", "exclude"),
        default=None,
        help="a distance missing because exactly one mask is empty: 'worst' counts the image "
        "diagonal, 'exclude' leaves it out (default: the run's report.nan_policy, else worst)",
    )
    report.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="RUN_DIR",
        help="another run (e.g. --preset scratch) whose rankings the verdict compares (repeatable)",
    )
    report.add_argument(
        "--show",
        action="append",
        default=[],
        metavar="LOSS",
        help="a loss to show in the qualitative figure beside the baseline and the best loss "
        "(repeatable)",
    )
    compare = commands.add_parser(
        "compare", help="how well the loss rankings of several runs agree (Kendall's tau)"
    )
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="two or more run folders")
    compare.add_argument(
        "--metrics",
        default="dice,hd95,lesion_f1",
        help="comma-separated metrics, or 'all' (default dice,hd95,lesion_f1)",
    )
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
        "--lesion-free",
        type=float,
        default=0.25,
        help="share of cases without new lesions, rounded up (default 0.25)",
    )
    synth.add_argument(
        "--preview", action="store_true", help="also save OUT/preview.png (axial montage)"
    )
    export = data_commands.add_parser(
        "export", help="write the phantom (or an MSSEG-2 folder) as an nnU-Net raw dataset"
    )
    export.add_argument("--format", choices=("nnunet",), required=True, help="nnunet")
    export.add_argument("--out", required=True, help="the dataset folder, e.g. Dataset501_Phantom")
    export.add_argument(
        "--data",
        default="synthetic",
        help="'synthetic' (the preset's phantom, default) or an MSSEG-2 folder",
    )
    export.add_argument(
        "--preset", default="quick", help="whose phantom and train/test split (default quick)"
    )
    check = data_commands.add_parser("check", help="validate every case of an MSSEG-2 folder")
    check.add_argument("root", help="dataset folder (one sub-folder per case)")
    _nnunet_parser(commands)
    return parser


def _nnunet_parser(commands: Any) -> None:
    nnunet = commands.add_parser(
        "nnunet", help="every loss as an nnU-Net v2 trainer (nnUNetTrainer_lb_<loss>)"
    )
    sub = nnunet.add_subparsers(dest="nnunet_command", required=True)
    for name, text in (
        ("install", "write lossbench's trainer module into nnunetv2's trainers"),
        ("uninstall", "remove what install wrote"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument(
            "--folder", default=None, help="trainer folder (default: nnunetv2's own)"
        )
    sub.add_parser("path", help="print the folder to set as nnUNet_extTrainer")
    sub.add_parser("list", help="print the trainer name of every registered loss")
    bench = sub.add_parser(
        "benchmark", help="train each loss through nnU-Net, predict imagesTs, score, report"
    )
    bench.add_argument("dataset", help="raw dataset folder, or its name or id in $nnUNet_raw")
    bench.add_argument("--losses", required=True, help="comma-separated loss names, or 'all'")
    bench.add_argument("--out", required=True, help="the benchmark's folder")
    bench.add_argument(
        "--folds", nargs="+", default=["0"], help="nnU-Net folds to train: 0-4 or all (0)"
    )
    bench.add_argument("--epochs", type=int, default=None, help="epochs (nnU-Net's 1000)")
    bench.add_argument(
        "--iterations", type=int, default=None, help="iterations per epoch (nnU-Net's 250)"
    )
    bench.add_argument("--configuration", default="3d_fullres", help="(3d_fullres)")
    bench.add_argument("--plans", default="nnUNetPlans", help="plans identifier (nnUNetPlans)")
    bench.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (auto)")
    bench.add_argument("--no-tta", action="store_true", help="no mirroring at prediction")
    bench.add_argument(
        "--validate", action="store_true", help="keep nnU-Net's validation after each training"
    )
    bench.add_argument(
        "--processes", type=int, default=2, help="nnU-Net's preprocessing/export processes (2)"
    )
    bench.add_argument("--workers", type=int, default=None, help="scoring processes (all cores)")
    bench.add_argument(
        "--force", action="store_true", help="start over in a folder with other settings"
    )


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

    args = _parser().parse_args(argv)
    command = args.command
    if command in ("data", "nnunet"):
        command += " " + getattr(args, f"{command}_command")
    try:
        return _COMMANDS[command](args)
    except KeyboardInterrupt:
        print("\ninterrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, ImportError, RunFolderInUseError) as exc:
        if os.environ.get("LOSSBENCH_DEBUG", "") not in ("", "0"):
            raise
        message = explain(exc)
        if command in ("run", "data export"):
            message = as_flags(message)
        print(f"lossbench {command}: {message}", file=sys.stderr)
        return 2


def explain(exc: BaseException) -> str:
    """One line for a user error: the error's own message, or, for the file system's errors,
    what happened to which path and how to fix it.

    Example:
        >>> print(explain(OSError(errno.EACCES, "Permission denied", "scores/results.csv")))
        permission denied: scores/results.csv; choose a place you can write to (or read)
        >>> explain(ValueError("train.lr must be in (0, 1], got 2.0"))
        'train.lr must be in (0, 1], got 2.0'
    """
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


FLAGS = {
    "losses": "--losses",
    "seeds": "--seeds",
    "device": "--device",
    "data.source": "--data",
    "preset": "--preset",
}
"""Config keys that the ``run`` command sets through a flag of their own; every other key is
set with ``--set KEY=VALUE``."""


def as_flags(message: str) -> str:
    """A library message that starts with a config key, reworded with the command-line flag.

    Example:
        >>> as_flags("data.source must be 'synthetic' or a dataset folder; no folder at x")
        "--data must be 'synthetic' or a dataset folder; no folder at x"
        >>> as_flags("train.lr must be in (0, 1], got 0.0")
        '--set train.lr must be in (0, 1], got 0.0'
        >>> as_flags("runs.old holds notes.txt and no lossbench run (config.toml): ...")
        'runs.old holds notes.txt and no lossbench run (config.toml): ...'
    """
    import dataclasses

    from lossbench.config import Config

    key = message.split(" ", 1)[0].rstrip(":").partition("[")[0]  # seeds[0]: the key seeds
    if key in FLAGS:
        return FLAGS[key] + message[len(key) :]
    config = Config()
    sections = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    keys = {
        f"{name}.{k.name}"
        for name, section in sections.items()
        if dataclasses.is_dataclass(section)
        for k in dataclasses.fields(section)
    }
    return f"--set {message}" if key in keys else message


def _report(args: argparse.Namespace) -> int:
    from lossbench.report import build_report

    paths = build_report(
        args.run_dir,
        baseline=args.baseline,
        out_dir=args.out,
        bench=args.bench,
        nan_policy=args.nan_policy,
        compare=args.compare,
        show=args.show,
    )
    print("\n".join(str(p) for p in paths))
    return 0


def _losses(args: argparse.Namespace) -> int:
    from lossbench.losses import list_losses

    if not list_losses(args.pattern):
        print(f"no registered loss matches {args.pattern!r}", file=sys.stderr)
        return 1
    print(losses_table(args.pattern))
    return 0


def _check(args: argparse.Namespace) -> int:
    from lossbench.data import check_dataset

    problems = check_dataset(args.root)
    for line in problems:
        print(line)
    if not problems:
        print(f"{args.root}: every case is readable and consistent")
    return 1 if problems else 0


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"seeds must be comma-separated integers, got {text!r}") from None


def _run(args: argparse.Namespace) -> int:
    from lossbench.config import apply_overrides, preset, validate
    from lossbench.executors import LocalExecutor, ray_executor
    from lossbench.run import check_run_folder, plan, prepare, resolve_losses, run

    config = preset(args.preset)
    config.losses = [n.strip() for n in args.losses.split(",") if n.strip()]
    if args.data is not None:
        config.data.source = args.data
    if args.seeds is not None:
        config.seeds = _seeds(args.seeds)
    if args.device is not None:
        config.device = args.device
    apply_overrides(config, args.overrides)
    if args.trial_cpus is not None:
        config.train.threads = args.trial_cpus
    names = resolve_losses(validate(config).losses)
    out = args.out or f"runs/{config.preset}"
    doomed = check_run_folder(config, out, args.force)
    if args.dry_run:
        print(plan(config, names))
        if doomed:
            listed = ", ".join(p.name + ("/" if p.is_dir() else "") for p in doomed)
            verb = "deletes" if args.force else "would delete"
            print(f"{out} holds a run: --force {verb} {listed} (nothing else)")
        return 0
    if args.plan_only:
        prepare(config, out, resume=args.resume, force=args.force)
        count = len(names) * len(config.seeds)
        print(
            f"{out} is ready: run its {count} trials with `lossbench trial {out} --index K` "
            f"(K = 0..{count - 1}), then `lossbench collect {out}`"
        )
        return 0
    if args.executor == "ray":
        executor = ray_executor(args.address, args.trial_gpus, args.trial_cpus)
    else:
        executor = LocalExecutor()
    start = time.perf_counter()
    table_path = run(config, out, resume=args.resume, force=args.force, executor=executor)
    return _summarise(Path(table_path), f" ({time.perf_counter() - start:.0f} s)", lead="\n")


def _print_means(table: Any, policy: str, file: Any = None) -> None:
    """The means of a results table (or of ``lossbench score``'s) over the cases with lesions,
    missing distances as the report's ``policy`` counts them."""
    from lossbench.stats import overview

    unit = "method" if "method" in table.columns else "loss"
    table = table.rename(columns={"method": "loss"})
    if "seed" not in table.columns:
        table = table.assign(seed=0)
    lesion = table[~table["ref_empty"].astype(bool)]
    if not len(lesion):
        return
    print(
        f"means over the {lesion['case_id'].nunique()} cases with lesions (missing distances: "
        f"{policy}, as in the report):",
        file=file,
    )
    print(overview(table, policy).rename_axis(unit).round(3).to_string(), file=file)


def _summarise(table_path: Path, suffix: str = "", lead: str = "") -> int:
    """Print the row count (between ``lead`` and ``suffix``) and the means of a results table,
    and build the run's report; returns 0."""
    from lossbench.report import read_config
    from lossbench.results import load

    table = load(table_path.parent)
    print(f"{lead}{len(table)} rows in {table_path}{suffix}")
    stored = read_config(table_path.parent)
    _print_means(table, stored.report.nan_policy if stored else "worst")
    if stored is not None and len(stored.seeds) == 1:
        print(
            "one seed cannot rank losses: seed-to-seed spread is as large as the gaps between "
            "them; use --preset standard (3 seeds) for conclusions"
        )
    from lossbench.report import build_report
    from lossbench.run import record_timing

    clock = time.perf_counter()
    try:
        markdown, page = build_report(table_path.parent)
    except ValueError as exc:  # e.g. no test case with lesions
        print(f"no report: {exc}")
        return 0
    timing = record_timing(table_path.parent, "report", time.perf_counter() - clock)
    print(f"report: {markdown} and {page}")
    print("wall time by phase: " + ", ".join(f"{k} {v:.0f} s" for k, v in timing.items()))
    return 0


def _trial(args: argparse.Namespace) -> int:
    from lossbench._folders import require_run
    from lossbench.config import from_toml
    from lossbench.layout import RunLayout
    from lossbench.run import run_trial, trial_grid

    layout = RunLayout(require_run(args.run_dir))
    grid = trial_grid(from_toml(layout.config))
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
    outcome = run_trial(layout.root, loss, seed)
    if outcome["status"] == "failed":
        print(f"{loss} seed {seed} failed: {outcome['error']}", file=sys.stderr)
        return 1
    print(f"{loss} seed {seed}: {outcome['status']} ({layout.trial(loss, seed).metrics})")
    return 0


def _collect(args: argparse.Namespace) -> int:
    from lossbench.run import collect, missing_trials

    table_path = collect(args.run_dir)
    missing = missing_trials(args.run_dir)
    _summarise(table_path)
    if missing:
        print(
            f"{len(missing)} trial(s) missing: "
            + ", ".join(f"{loss} seed {seed}" for loss, seed in missing)
        )
        return 1
    return 0


def _score(args: argparse.Namespace) -> int:
    from lossbench.report import build_report
    from lossbench.score import DetectionRule, check_score_folder, score, write_scores

    methods: dict[str, str] = {}
    for item in args.pred:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise ValueError(f"--pred must be NAME=DIR, got {item!r}")
        if name in methods:
            raise ValueError(f"--pred: method {name!r} given twice")
        methods[name] = folder
    rule = DetectionRule(
        args.min_lesion_mm3,
        args.alpha,
        args.beta,
        args.gamma,
        args.connectivity,
        args.nsd_tolerance,
    )
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    if args.baseline is not None and args.baseline not in methods:
        raise ValueError(
            f"--baseline {args.baseline!r} is not one of the methods: {', '.join(methods)}"
        )
    if args.out is not None:
        check_score_folder(args.out, inputs=[args.ref, *methods.values()])
    table = score(
        args.ref,
        methods,
        label=args.label,
        rule=rule,
        allow_missing=args.allow_missing,
        workers=args.workers,
        affine_tolerance=args.affine_tolerance,
    )
    # the summary goes to stdout with --out, else to stderr beside the CSV table on stdout
    stream = sys.stdout if args.out is not None else sys.stderr
    missing = table.groupby("method")["pred_missing"].sum()
    for method, count in missing[missing > 0].items():
        print(f"{method}: {count} missing prediction(s) scored as empty masks", file=stream)
    _print_means(table, "worst", stream)
    if args.out is None:
        table.to_csv(sys.stdout, index=False)
        return 0
    settings = {
        "reference": str(args.ref),
        "predictions": methods,
        "label": args.label,
        "allow_missing": args.allow_missing,
        "affine_tolerance": args.affine_tolerance,
    }
    for path in write_scores(table, args.out, rule, settings):
        print(path)
    baseline = args.baseline or next(iter(methods))
    try:
        print("report: " + " and ".join(map(str, build_report(args.out, baseline=baseline))))
    except ValueError as exc:  # e.g. a table whose cases all lack lesions
        print(f"lossbench score: no report: {exc}", file=sys.stderr)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from lossbench.report import compare_runs
    from lossbench.stats import SUMMARY_METRICS

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if metrics == ["all"]:
        metrics = list(SUMMARY_METRICS)
    markdown, _ = compare_runs(args.run_dirs, metrics, args.nan_policy, args.out)
    print(markdown)
    return 0


def _synth(args: argparse.Namespace) -> int:
    from lossbench.data import load_dataset, synthesize
    from lossbench.data.preview import save_preview

    start = time.perf_counter()
    folders = synthesize(
        args.out,
        args.cases,
        args.seed,
        tuple(args.shape),
        tuple(args.spacing),
        progress=True,
        lesion_free=args.lesion_free,
    )
    print(f"{len(folders)} cases in {args.out} ({time.perf_counter() - start:.1f} s)")
    if args.preview:
        cases = load_dataset(args.out)
        case = next((c for c in cases if c.label.any()), cases[0])
        path = save_preview(
            case.baseline, case.followup, case.label, f"{args.out}/preview.png", case.case_id
        )
        print(f"preview: {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    import tempfile

    from lossbench._folders import check_output
    from lossbench.config import preset, validate
    from lossbench.data.nnunet import export_nnunet
    from lossbench.layout import RunLayout
    from lossbench.trial import _split

    config = preset(args.preset)
    config.data.source = args.data
    validate(config)
    inputs = [] if args.data == "synthetic" else [("data folder", args.data)]
    check_output(args.out, "nnU-Net dataset", inputs=inputs)  # before the phantom is made
    with tempfile.TemporaryDirectory(prefix="lossbench-export-") as folder:
        train, test = _split(config, RunLayout(Path(folder)), generate=True)
        name = "lossbench phantom" if args.data == "synthetic" else Path(args.data).name
        path = export_nnunet(train, args.out, test, name=name)
    print(f"wrote {len(train)} training and {len(test)} test cases: {path}")
    return 0


def _nnunet(args: argparse.Namespace) -> int:
    """``lossbench nnunet install | uninstall | path | list | benchmark``."""
    from lossbench.integrations import nnunet  # ImportError without the extra: one line
    from lossbench.losses import list_losses

    if args.nnunet_command == "path":
        print(nnunet.extra_trainer_folder())
    elif args.nnunet_command == "list":
        print("\n".join(nnunet.trainer_name(loss) for loss in list_losses()))
    elif args.nnunet_command == "install":
        print(f"installed {nnunet.install(args.folder)}")
    elif args.nnunet_command == "uninstall":
        removed = nnunet.uninstall(args.folder)
        print(f"removed {removed}" if removed else "nothing to remove")
    else:
        return _nnunet_benchmark(args)
    return 0


def _nnunet_benchmark(args: argparse.Namespace) -> int:
    from lossbench.integrations.nnunet_benchmark import BenchmarkSettings, benchmark, parse_folds
    from lossbench.trial import resolve_device, resolve_losses

    for flag, value in (
        ("--epochs", args.epochs),
        ("--iterations", args.iterations),
        ("--processes", args.processes),
        ("--workers", args.workers),
    ):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be at least 1, got {value}")
    if args.device not in ("auto", "cpu", "cuda", "mps"):
        raise ValueError(f"--device must be auto, cpu, cuda or mps, got {args.device!r}")
    device = args.device if args.device == "mps" else resolve_device(args.device).type
    settings = BenchmarkSettings(
        losses=resolve_losses(args.losses.split(",")),
        folds=parse_folds(args.folds),
        configuration=args.configuration,
        plans=args.plans,
        epochs=args.epochs,
        iterations=args.iterations,
        device=device,
        tta=not args.no_tta,
        validate=args.validate,
        processes=args.processes,
    )
    try:
        record = benchmark(args.dataset, settings, args.out, force=args.force, workers=args.workers)
    except RuntimeError as exc:
        print(f"lossbench nnunet benchmark: {exc}", file=sys.stderr)
        return 1
    print("\n".join(record.get("written", [])))
    print("seconds: " + ", ".join(f"{k} {v}" for k, v in record["seconds"].items()))
    if record["failed"]:
        print(f"failed: {', '.join(record['failed'])} (logs in {Path(args.out) / 'logs'})")
        return 1
    return 0


_COMMANDS = {
    "run": _run,
    "trial": _trial,
    "collect": _collect,
    "score": _score,
    "report": _report,
    "compare": _compare,
    "losses": _losses,
    "data synth": _synth,
    "data check": _check,
    "data export": _export,
    **{f"nnunet {c}": _nnunet for c in ("install", "uninstall", "path", "list", "benchmark")},
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
