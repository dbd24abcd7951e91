"""``lossbench score``: MSSEG-2's per-case metrics, the statistics and the report for any model's
predictions."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["main", "register"]


def register(commands: Any) -> None:
    """Add ``score`` to the sub-commands."""
    parser = commands.add_parser(
        "score", help="MSSEG-2's per-case metrics for any model's predictions (one or more methods)"
    )
    parser.set_defaults(main=main, name="score")
    parser.add_argument(
        "--ref",
        required=True,
        metavar="REF_DIR",
        help="reference masks: <case>.nii.gz files, an nnU-Net dataset (its labelsTs/) or MSSEG-2 "
        "case folders",
    )
    parser.add_argument(
        "--pred",
        action="append",
        required=True,
        metavar="NAME=DIR",
        help="a method's predictions, <case>.nii.gz named like the reference (repeatable)",
    )
    parser.add_argument(
        "--out", default=None, help="write results.csv|parquet here (default: print)"
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="score a missing prediction as an empty mask (flagged pred_missing), don't stop",
    )
    parser.add_argument(
        "--label",
        type=int,
        default=None,
        metavar="K",
        help="the lesion label of multi-label masks (every other label is background)",
    )
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument(
        "--baseline",
        default=None,
        help="the method the report's paired comparison is against (default: the first --pred)",
    )
    parser.add_argument(
        "--size-bins",
        default=None,
        metavar="EDGES",
        help="volume edges (mm^3) of the report's detection-by-size bins (3,10,30,100,300)",
    )
    _rule_flags(parser)


def _rule_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of MSSEG-2's detection rule and of the geometry check."""
    parser.add_argument("--min-lesion-mm3", type=float, default=3.0, help="lesion size limit (3)")
    parser.add_argument("--alpha", type=float, default=0.10, help="detection alpha (0.10)")
    parser.add_argument("--beta", type=float, default=0.70, help="detection beta (0.70)")
    parser.add_argument("--gamma", type=float, default=0.65, help="detection gamma (0.65)")
    parser.add_argument(
        "--connectivity", type=int, choices=(6, 18, 26), default=6, help="lesion connectivity (6)"
    )
    parser.add_argument("--nsd-tolerance", type=float, default=1.0, help="NSD tolerance, mm (1)")
    parser.add_argument(
        "--affine-tolerance",
        type=float,
        default=1e-3,
        help="largest difference (mm) between a prediction's and its reference's affine (1e-3)",
    )


def _methods(args: argparse.Namespace) -> dict[str, str]:
    """The ``--pred NAME=DIR`` pairs, checked, with ``--workers`` and ``--baseline``."""
    methods: dict[str, str] = {}
    for item in args.pred:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise ValueError(f"--pred must be NAME=DIR, got {item!r}")
        if name in methods:
            raise ValueError(f"--pred: method {name!r} given twice")
        methods[name] = folder
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    if args.baseline is not None and args.baseline not in methods:
        raise ValueError(
            f"--baseline {args.baseline!r} is not one of the methods: {', '.join(methods)}"
        )
    return methods


def _write(args: argparse.Namespace, tables: Any, rule: Any, methods: dict[str, str]) -> None:
    """The tables, their settings and the report, into ``--out``."""
    from lossbench.report import build_report
    from lossbench.score import write_scores

    settings = {
        "reference": str(args.ref),
        "predictions": methods,
        "label": args.label,
        "allow_missing": args.allow_missing,
        "affine_tolerance": args.affine_tolerance,
    }
    for path in write_scores(tables[0], args.out, rule, settings, tables[1]):
        print(path)
    baseline = args.baseline or next(iter(methods))
    try:
        print(
            "report: "
            + " and ".join(
                map(str, build_report(args.out, baseline=baseline, size_bins=args.size_bins))
            )
        )
    except ValueError as exc:  # e.g. a table whose cases all lack lesions
        print(f"lossbench score: no report: {exc}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    """Score every method; print the means, and the table (CSV) without ``--out``."""
    from lossbench.cli._console import print_means, size_bins
    from lossbench.score import DetectionRule, check_score_folder, score_tables

    args.size_bins = size_bins(args.size_bins)  # refused before anything is scored
    methods = _methods(args)
    rule = DetectionRule(
        args.min_lesion_mm3,
        args.alpha,
        args.beta,
        args.gamma,
        args.connectivity,
        args.nsd_tolerance,
    )
    if args.out is not None:
        check_score_folder(args.out, inputs=[args.ref, *methods.values()])
    table, lesions = score_tables(
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
    print_means(table, "worst", stream)
    if args.out is None:
        table.to_csv(sys.stdout, index=False)
    else:
        _write(args, (table, lesions), rule, methods)
    return 0
