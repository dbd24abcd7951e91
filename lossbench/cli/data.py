"""``lossbench data synth | export | check | stats``: generate, export, check or describe a
dataset."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from lossbench.config.phantom import MSSEG2_LESION_FREE

__all__ = ["main", "register"]


def register(commands: Any) -> None:
    """Add ``data`` and its four sub-commands."""
    data = commands.add_parser("data", help="generate or check a dataset")
    sub = data.add_subparsers(dest="data_command", required=True)
    synth = sub.add_parser(
        "synth", help="write synthetic longitudinal phantom cases in MSSEG-2's layout"
    )
    synth.set_defaults(main=main, run=_synth, name="data synth")
    synth.add_argument("--out", required=True, help="folder to write the cases into")
    synth.add_argument("--cases", type=int, default=40, help="number of cases (default 40)")
    synth.add_argument("--seed", type=int, default=0, help="seed of the whole set (default 0)")
    synth.add_argument(
        "--phantom",
        choices=("anatomy", "blobs"),
        default="anatomy",
        help="anatomy (default: the ICBM 2009a template, MSSEG-2's lesion statistics) or blobs",
    )
    synth.add_argument(
        "--centre",
        choices=("brain", "ventricles"),
        default="ventricles",
        help="what the anatomy phantom's field of view is centred on (default ventricles)",
    )
    synth.add_argument("--shape", type=int, nargs=3, default=(64, 80, 64), metavar=("X", "Y", "Z"))
    synth.add_argument(
        "--spacing", type=float, nargs=3, default=(1.0, 1.0, 1.0), metavar=("SX", "SY", "SZ")
    )
    synth.add_argument(
        "--lesion-free",
        type=float,
        default=MSSEG2_LESION_FREE,
        help="share of cases without new lesions, rounded up (default 0.275, MSSEG-2's)",
    )
    synth.add_argument(
        "--preview", action="store_true", help="also save OUT/preview.png (axial montage)"
    )
    _register_export(sub)
    check = sub.add_parser("check", help="validate every case of an MSSEG-2 folder")
    check.set_defaults(main=main, run=_check, name="data check")
    check.add_argument("root", help="dataset folder (one sub-folder per case)")
    stats = sub.add_parser(
        "stats", help="lesion statistics per case, beside MSSEG-2's training set"
    )
    stats.set_defaults(main=main, run=_stats, name="data stats")
    stats.add_argument("path", help="a phantom, an MSSEG-2 folder or an nnU-Net raw dataset")
    stats.add_argument("--out", help="write the per-case table here (CSV)")


def _register_export(sub: Any) -> None:
    from lossbench.cli.run import add_config_flag

    export = sub.add_parser(
        "export", help="write the phantom (or an MSSEG-2 folder) as an nnU-Net raw dataset"
    )
    export.set_defaults(main=main, run=_export, name="data export")
    export.add_argument("--format", choices=("nnunet",), required=True, help="nnunet")
    export.add_argument("--out", required=True, help="the dataset folder, e.g. Dataset501_Phantom")
    add_config_flag(export, "data.source", "synthetic")
    add_config_flag(export, "preset", "quick")


def main(args: argparse.Namespace) -> int:
    """Run the chosen sub-command."""
    return int(args.run(args))


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
        phantom=args.phantom,
        centre=args.centre,
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
    from lossbench.cli.run import config_from_flags
    from lossbench.config import validate
    from lossbench.data.nnunet import export_nnunet
    from lossbench.data.split import generate_phantom, split_cases

    config = validate(config_from_flags(args, []))
    source = config.data.source
    inputs = [] if source == "synthetic" else [("data folder", source)]
    check_output(args.out, "nnU-Net dataset", inputs=inputs)  # before the phantom is made
    with tempfile.TemporaryDirectory(prefix="lossbench-export-") as folder:
        root = Path(folder)
        split = split_cases(config.data, (Path("train"), Path("test")))
        if source == "synthetic":
            generate_phantom(config.data, split, root, config.phantom, progress=True)
        train, test = (s.open(root, config.data.label) for s in (split.train, split.test))
        name = "lossbench phantom" if source == "synthetic" else Path(source).name
        path = export_nnunet(train, args.out, test, name=name)
    print(f"wrote {len(train)} training and {len(test)} test cases: {path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from lossbench.data import check_dataset

    problems = check_dataset(args.root)
    for line in problems:
        print(line)
    if not problems:
        print(f"{args.root}: every case is readable and consistent")
    return 1 if problems else 0


def _stats(args: argparse.Namespace) -> int:
    from lossbench._files import write_atomic
    from lossbench.data.stats import dataset_stats, summary

    frame = dataset_stats(args.path, progress=True)
    if args.out:
        write_atomic(Path(args.out), lambda path: frame.to_csv(path, index=False))
        print(f"{len(frame)} cases: {args.out}")
    table = summary(frame)
    print(table.to_string(float_format=lambda v: f"{v:.3g}", na_rep="-"))
    return 0
