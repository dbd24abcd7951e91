"""``lossbench nnunet install | uninstall | path | list | benchmark``: every loss as an nnU-Net v2
trainer (``nnUNetTrainer_lb_<loss>``), and a benchmark through nnU-Net's own commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal, get_args

__all__ = ["NNUNET_DEVICES", "main", "register"]

NnunetDevice = Literal["auto", "cpu", "cuda", "mps"]
"""Devices nnU-Net trains on (``--device`` of ``nnunet benchmark``)."""
NNUNET_DEVICES: tuple[str, ...] = get_args(NnunetDevice)


def register(commands: Any) -> None:
    """Add ``nnunet`` and its sub-commands."""
    nnunet = commands.add_parser(
        "nnunet", help="every loss as an nnU-Net v2 trainer (nnUNetTrainer_lb_<loss>)"
    )
    sub = nnunet.add_subparsers(dest="nnunet_command", required=True)
    for name, text in (
        ("install", "write lossbench's trainer module into nnunetv2's trainers"),
        ("uninstall", "remove what install wrote"),
    ):
        command = sub.add_parser(name, help=text)
        command.set_defaults(main=main, name=f"nnunet {name}")
        command.add_argument("--folder", default=None, help="trainer folder (default: nnunetv2's)")
    sub.add_parser("path", help="print the folder to set as nnUNet_extTrainer").set_defaults(
        main=main, name="nnunet path"
    )
    sub.add_parser("list", help="print the trainer name of every registered loss").set_defaults(
        main=main, name="nnunet list"
    )
    _register_benchmark(sub)


def _register_benchmark(sub: Any) -> None:
    bench = sub.add_parser(
        "benchmark", help="train each loss through nnU-Net, predict imagesTs, score, report"
    )
    bench.set_defaults(main=main, name="nnunet benchmark")
    bench.add_argument("dataset", help="raw dataset folder, or its name or id in $nnUNet_raw")
    bench.add_argument(
        "--losses", required=True, help="comma-separated loss names, 'all' or 'released'"
    )
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


def main(args: argparse.Namespace) -> int:
    """Run the chosen sub-command; ImportError (one line) without the ``nnunet`` extra."""
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
        return _benchmark(args)
    return 0


def _settings(args: argparse.Namespace) -> Any:
    from lossbench._text import either
    from lossbench.config import resolve_device, resolve_losses
    from lossbench.integrations.nnunet_benchmark import BenchmarkSettings, parse_folds

    for flag, value in (
        ("--epochs", args.epochs),
        ("--iterations", args.iterations),
        ("--processes", args.processes),
        ("--workers", args.workers),
    ):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be at least 1, got {value}")
    if args.device not in NNUNET_DEVICES:
        raise ValueError(f"--device must be {either(NNUNET_DEVICES)}, got {args.device!r}")
    device = args.device if args.device == "mps" else resolve_device(args.device).type
    return BenchmarkSettings(
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


def _benchmark(args: argparse.Namespace) -> int:
    from lossbench.integrations.nnunet_benchmark import benchmark

    settings = _settings(args)
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
