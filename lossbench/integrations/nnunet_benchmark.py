"""``lossbench nnunet benchmark``: train each loss through nnU-Net's whole pipeline, predict the
test set, and score the predictions with :func:`lossbench.score.score` into one report.

The steps are nnU-Net's own commands, run as child processes with their output in
``OUT/logs/``: ``nnUNetv2_plan_and_preprocess`` once, ``nnUNetv2_train`` per loss and fold
(trainer ``nnUNetTrainer_lb_<loss>``), ``nnUNetv2_predict`` per loss on ``imagesTs`` (the folds
ensembled, as nnU-Net does). Everything lands in the output folder::

    OUT/nnUNet_preprocessed/  OUT/nnUNet_results/    nnU-Net's folders for this benchmark
    OUT/predictions/<loss>/   OUT/logs/              test-set masks; one log per step
    OUT/benchmark.json        settings, versions, what was done and how long it took
    OUT/results.csv|parquet, score.json, report.md|html, summary.json, figures/

Rerunning the same command resumes: a finished preprocessing, training (``checkpoint_final.pth``)
or prediction is not redone, and an interrupted training continues from its latest checkpoint.
A step that fails is reported with its log, the other losses go on, and the scores cover the
losses that finished.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch

import lossbench
from lossbench._files import write_atomic
from lossbench._folders import check_output
from lossbench._lock import hold
from lossbench.integrations.nnunet import (
    PARAMS_ENV,
    TRAINER_ENV,
    install,
    trainer_name,
    trainer_settings,
)
from lossbench.integrations.nnunet_dataset import check_dataset, find_dataset
from lossbench.integrations.nnunet_steps import Steps, nnunet_command
from lossbench.score import DetectionRule, score_tables, write_scores

__all__ = ["BenchmarkSettings", "benchmark", "find_dataset", "parse_folds"]

_RETRAIN_KEYS = ("dataset", "configuration", "plans", "epochs", "iterations", "loss_params")


@dataclass
class BenchmarkSettings:
    """What a benchmark trains and how; stored in ``benchmark.json``.

    Attributes:
        losses: registry names, one nnU-Net trainer each.
        folds: nnU-Net folds to train (``"0"`` ... ``"4"`` or ``"all"``); prediction ensembles
            them.
        configuration: nnU-Net configuration (``3d_fullres``, ``2d``, ...).
        plans: nnU-Net plans identifier.
        epochs: nnU-Net epochs (None: nnU-Net's 1000).
        iterations: training iterations per epoch (None: nnU-Net's 250); the validation
            iterations per epoch follow at nnU-Net's ratio, a fifth (at least 1).
        device: ``cpu``, ``cuda`` or ``mps``.
        tta: nnU-Net's mirroring at prediction.
        validate: nnU-Net's validation of each fold after training (not used by the scores).
        processes: processes for nnU-Net's preprocessing, prediction and export
            (``nnUNet_def_n_proc`` unless that is set).
    """

    losses: list[str]
    folds: list[str] = field(default_factory=lambda: ["0"])
    configuration: str = "3d_fullres"
    plans: str = "nnUNetPlans"
    epochs: int | None = None
    iterations: int | None = None
    device: str = "cpu"
    tta: bool = True
    validate: bool = False
    processes: int = 2


def _check_out(out: Path, stored: dict[str, Any], force: bool) -> None:
    path = out / "benchmark.json"
    if force or not path.is_file():
        return
    before = json.loads(path.read_text()).get("settings", {})
    differ = [
        f"{k}: {before.get(k)!r} there, {stored.get(k)!r} here"
        for k in _RETRAIN_KEYS
        if before.get(k) != stored.get(k)
    ]
    if differ:
        raise ValueError(
            f"{out} holds a benchmark with other settings ({'; '.join(differ)}); "
            "use another --out, or --force to start over"
        )


def benchmark(
    dataset: str | Path,
    settings: BenchmarkSettings,
    out: str | Path,
    *,
    force: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train, predict and score each loss of ``settings`` through nnU-Net.

    Args:
        dataset: a raw dataset folder or its name or id under ``$nnUNet_raw`` (see
            :func:`find_dataset`); it must have ``imagesTs``/``labelsTs`` and one foreground label.
        settings: what to train, see :class:`BenchmarkSettings`.
        out: the benchmark's folder: new, empty or an earlier benchmark's (its
            ``benchmark.json``), and apart from the dataset.
        force: start over in a folder that holds a benchmark with other settings.
        workers: processes for scoring (default: all cores).
        progress: a progress bar over the steps.

    Returns:
        The ``benchmark.json`` record: settings, versions, ``done``/``failed`` steps, seconds per
        phase and the written paths.

    Raises:
        FileNotFoundError, ValueError: a dataset or setting nnU-Net or the scores would refuse,
            before anything runs.
        RuntimeError: no loss finished (each failure was reported with its log).
    """
    root = find_dataset(dataset)
    label, cases = check_dataset(root, settings.folds)
    folder = Path(out).resolve()
    params = os.environ.get(PARAMS_ENV, "")
    stored = {"dataset": root.name, **asdict(settings), "loss_params": params}
    versions = {
        "lossbench": lossbench.__version__,
        "torch": torch.__version__,
        "nnunetv2": version("nnunetv2"),
    }
    record: dict[str, Any] = {
        "settings": stored,
        "versions": versions,
        "dataset_path": str(root),
        "test_cases": len(cases),
    }
    check_output(folder, "nnU-Net benchmark", inputs=[("dataset", root)])
    _check_out(folder, record["settings"], force)
    folder.mkdir(parents=True, exist_ok=True)
    with hold(folder / ".lock", folder):
        _write_record(folder, record, {})  # first: it marks the folder as a benchmark's
        return _benchmark_locked(root, label, settings, folder, record, workers, progress)


def _benchmark_locked(
    root: Path,
    label: int,
    settings: BenchmarkSettings,
    out: Path,
    record: dict[str, Any],
    workers: int | None,
    progress: bool,
) -> dict[str, Any]:
    env = _environment(root, out, settings)
    installed = install()  # nnU-Net finds the trainers in its own folder first: see the README
    total = 1 + len(settings.losses) * (len(settings.folds) + 1)
    steps = Steps(out / "logs", env, total, progress)
    _preprocess(steps, root, out, settings)
    predictions: dict[str, Path] = {}
    for loss in settings.losses:
        if not _train(steps, root, out, settings, loss):
            steps.skip()
            continue
        target = _predict(steps, root, out, settings, loss)
        if target is not None:
            predictions[loss] = target
    steps.close()
    record.update(done=steps.done, failed=steps.failed, installed=str(installed))
    if not predictions:
        _write_record(out, record, steps.seconds)
        raise RuntimeError(
            f"no loss finished training and prediction; see the logs in {steps.logs}"
        )
    start = time.perf_counter()
    paths = _score(root, label, out, predictions, record, workers, progress)
    steps.seconds["scoring and report"] = time.perf_counter() - start
    record["written"] = [str(p) for p in paths]
    _write_record(out, record, steps.seconds)
    return record


def _environment(root: Path, out: Path, settings: BenchmarkSettings) -> dict[str, str]:
    """The environment of nnU-Net's commands: nnU-Net's folders for this benchmark, and the
    trainer settings of ``settings`` (checked as the trainers will check them)."""
    overrides: dict[str, Any] = {"final_validation": settings.validate}
    if settings.epochs is not None:
        overrides["num_epochs"] = settings.epochs
    if settings.iterations is not None:
        overrides["num_iterations_per_epoch"] = settings.iterations
        overrides["num_val_iterations_per_epoch"] = max(1, settings.iterations // 5)  # 250:50
    env = {
        **os.environ,
        "nnUNet_raw": str(root.parent),
        "nnUNet_preprocessed": str(out / "nnUNet_preprocessed"),
        "nnUNet_results": str(out / "nnUNet_results"),
        TRAINER_ENV: json.dumps(overrides),
        "nnUNet_def_n_proc": os.environ.get("nnUNet_def_n_proc") or str(settings.processes),
    }
    trainer_settings(overrides)  # the trainers would refuse these settings: say so now
    return env


def _dataset_id(root: Path) -> str:
    """nnU-Net's id of the dataset folder ``root`` (``DatasetXXX_Name``), without leading 0s."""
    return str(int(root.name[7:10]))


def _preprocess(steps: Steps, root: Path, out: Path, settings: BenchmarkSettings) -> None:
    """nnU-Net's planning and preprocessing, unless done before (a marker file says so).

    Raises:
        RuntimeError: it failed (its log named); nothing else can run.
    """
    marker = out / "nnUNet_preprocessed" / root.name / f".lossbench-{settings.configuration}"
    if marker.is_file():
        steps.skip()
    elif steps.run(
        "preprocess",
        "preprocessing",
        [
            nnunet_command("nnUNetv2_plan_and_preprocess"),
            "-d",
            _dataset_id(root),
            "-c",
            settings.configuration,
            "-np",
            str(settings.processes),
            "--verify_dataset_integrity",
        ],
    ):
        marker.write_text("preprocessed\n")
    else:
        steps.close()
        raise RuntimeError(
            f"nnU-Net's preprocessing failed; its log: {steps.logs / 'preprocess.log'}"
        )


def _train(steps: Steps, root: Path, out: Path, settings: BenchmarkSettings, loss: str) -> bool:
    """Train ``loss``'s trainer on each fold without a final checkpoint (an interrupted fold
    continues from its latest); whether every fold is trained."""
    trainer = trainer_name(loss)
    results = out / "nnUNet_results" / root.name
    model = results / f"{trainer}__{settings.plans}__{settings.configuration}"
    trained = True
    for fold in settings.folds:
        fold_dir = model / f"fold_{fold}"
        if (fold_dir / "checkpoint_final.pth").is_file():
            steps.skip()
            continue
        resume = ["--c"] if (fold_dir / "checkpoint_latest.pth").is_file() else []
        trained &= steps.run(
            f"train-{loss}-fold{fold}",
            "training",
            [
                nnunet_command("nnUNetv2_train"),
                _dataset_id(root),
                settings.configuration,
                fold,
                "-tr",
                trainer,
                "-p",
                settings.plans,
                "-device",
                settings.device,
                *resume,
            ],
        )
    return trained


def _predict(
    steps: Steps, root: Path, out: Path, settings: BenchmarkSettings, loss: str
) -> Path | None:
    """Predict the test set with ``loss``'s folds (ensembled), unless done before; the folder
    of the predictions, or None when the prediction failed."""
    target = out / "predictions" / loss
    if (target / ".lossbench-done").is_file():
        steps.skip()
        return target
    if not steps.run(
        f"predict-{loss}",
        "prediction",
        [
            nnunet_command("nnUNetv2_predict"),
            "-i",
            str(root / "imagesTs"),
            "-o",
            str(target),
            "-d",
            _dataset_id(root),
            "-c",
            settings.configuration,
            "-tr",
            trainer_name(loss),
            "-p",
            settings.plans,
            "-f",
            *settings.folds,
            "-device",
            settings.device,
            "-npp",
            str(settings.processes),
            "-nps",
            str(settings.processes),
            *([] if settings.tta else ["--disable_tta"]),
        ],
    ):
        return None
    (target / ".lossbench-done").write_text("predicted\n")
    return target


def _score(
    root: Path,
    label: int,
    out: Path,
    predictions: dict[str, Path],
    record: dict[str, Any],
    workers: int | None,
    progress: bool,
) -> list[Path]:
    """Score the test-set predictions into ``out`` and build the report there (a report that
    cannot be built is said on stderr); the paths written."""
    rule = DetectionRule()
    table, lesions = score_tables(
        root / "labelsTs", predictions, label=label, rule=rule, workers=workers, progress=progress
    )
    written = {k: str(v) for k, v in predictions.items()}
    scored = {
        "reference": str(root / "labelsTs"),
        "predictions": written,
        "label": label,
        "nnunet": record["settings"],
    }
    paths = write_scores(table, out, rule, scored, lesions)
    from lossbench.report import build_report

    try:
        paths += list(build_report(out, baseline=next(iter(predictions))))
    except ValueError as exc:  # e.g. no test case with lesions
        print(f"lossbench nnunet benchmark: no report: {exc}", file=sys.stderr)
    return paths


def _write_record(out: Path, record: dict[str, Any], seconds: dict[str, float]) -> None:
    record["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    text = json.dumps(record, indent=2) + "\n"
    write_atomic(out / "benchmark.json", lambda path: path.write_text(text))


def parse_folds(text: Sequence[str]) -> list[str]:
    """``--folds 0 1`` or ``--folds 0,1`` as nnU-Net's fold names.

    Example:
        >>> parse_folds(["0,1", "all"])
        ['0', '1', 'all']
    """
    return [f.strip() for item in text for f in item.split(",") if f.strip()]
