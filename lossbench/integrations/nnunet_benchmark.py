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
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

import lossbench
from lossbench._files import write_atomic
from lossbench._folders import check_output
from lossbench._lock import hold
from lossbench.data.nnunet import read_dataset_json
from lossbench.integrations.nnunet import (
    PARAMS_ENV,
    TRAINER_ENV,
    binary_label,
    install,
    trainer_name,
    trainer_settings,
)
from lossbench.score import DetectionRule, score, write_scores

__all__ = ["BenchmarkSettings", "benchmark", "find_dataset", "parse_folds"]

_DATASET = re.compile(r"^Dataset(\d{3})_\S+$")
_NIFTI = (".nii.gz", ".nii")
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


def find_dataset(dataset: str | Path) -> Path:
    """The raw dataset folder of ``dataset``: a path to a ``DatasetXXX_Name`` folder, or a
    dataset name or id under ``$nnUNet_raw``.

    Raises:
        FileNotFoundError: no such folder (the message says where it looked).
        ValueError: the folder's name is not ``DatasetXXX_Name``, as nnU-Net needs.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp()) / "Dataset501_Tiny"
        >>> _ = root.mkdir(), (root / "dataset.json").write_text("{}")
        >>> os.environ["nnUNet_raw"] = str(root.parent)
        >>> find_dataset("501") == find_dataset("Dataset501_Tiny") == find_dataset(root) == root
        True
        >>> del os.environ["nnUNet_raw"]
    """
    path = Path(dataset)
    if (path / "dataset.json").is_file():
        if not _DATASET.match(path.resolve().name):
            raise ValueError(
                f"nnU-Net needs the dataset folder to be named DatasetXXX_Name "
                f"(three digits), got {path.resolve().name!r}"
            )
        return path.resolve()
    raw = os.environ.get("nnUNet_raw")
    if raw is None or os.sep in str(dataset):
        raise FileNotFoundError(
            f"no dataset.json in {path}; give the dataset's folder, or set "
            "nnUNet_raw to find it by name or id"
        )
    text = str(dataset)
    found = [
        d
        for d in sorted(Path(raw).glob("Dataset*"))
        if (d / "dataset.json").is_file()
        and (d.name == text or (text.isdigit() and d.name[7:10] == f"{int(text):03d}"))
    ]
    if len(found) != 1:
        raise FileNotFoundError(
            f"{'no' if not found else 'more than one'} dataset {text!r} in "
            f"nnUNet_raw={raw}" + (f": {found}" if found else "")
        )
    return found[0]


def _check_dataset(root: Path, settings: BenchmarkSettings) -> tuple[int, list[str]]:
    """The lesion label and the test case ids, after every check that can fail before nnU-Net
    starts."""
    meta = read_dataset_json(root)
    label = binary_label(meta["labels"], str(root / "dataset.json"))
    ending = meta["file_ending"]
    if ending not in _NIFTI:
        raise ValueError(
            f"{root / 'dataset.json'}: file_ending {ending!r}; lossbench scores "
            "NIfTI (.nii.gz or .nii) masks"
        )
    labels_ts, images_ts = root / "labelsTs", root / "imagesTs"
    if not labels_ts.is_dir() or not images_ts.is_dir():
        raise FileNotFoundError(
            f"{root} needs imagesTs/ and labelsTs/: the benchmark scores the test set"
        )
    cases = sorted(p.name[: -len(ending)] for p in labels_ts.glob(f"*{ending}"))
    if not cases:
        raise FileNotFoundError(f"{labels_ts} holds no {ending} label")
    for case in cases:
        if not (images_ts / f"{case}_0000{ending}").is_file():
            raise FileNotFoundError(
                f"{images_ts / f'{case}_0000{ending}'} is missing: labelsTs has {case}"
            )
    training = len(list((root / "labelsTr").glob(f"*{ending}")))
    if any(f != "all" for f in settings.folds) and training < 5:
        raise ValueError(
            f"{root / 'labelsTr'} has {training} case(s); nnU-Net's folds 0-4 "
            "need at least 5 (or use --folds all)"
        )
    for fold in settings.folds:
        if fold not in ("0", "1", "2", "3", "4", "all"):
            raise ValueError(f"--folds: nnU-Net's folds are 0-4 or all, got {fold!r}")
    return label, cases


def _command(name: str) -> str:
    """The path of one of nnU-Net's console scripts, beside this Python first."""
    found = shutil.which(
        name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )
    if found is None:
        raise FileNotFoundError(
            f'nnU-Net\'s command {name} is not installed: pip install -e ".[nnunet]"'
        )
    return found


def _step(command: list[str], log: Path, env: dict[str, str]) -> bool:
    """Run one nnU-Net command with its output in ``log``; whether it succeeded (on failure the
    log's last lines go to stderr)."""
    import subprocess

    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as stream:
        stream.write(" ".join(command) + "\n")
        stream.flush()
        code = subprocess.call(command, stdout=stream, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        print(
            f"lossbench nnunet benchmark: {Path(command[0]).name} failed (exit {code}); "
            f"its log: {log}\n  " + "\n  ".join(tail),
            file=sys.stderr,
        )
    return code == 0


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
    label, cases = _check_dataset(root, settings)
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
    installed = install()  # nnU-Net finds the trainers in its own folder first: see the README
    dataset_id = str(int(root.name[7:10]))
    logs = out / "logs"
    results = out / "nnUNet_results" / root.name
    seconds: dict[str, float] = {}
    done: list[str] = []
    failed: list[str] = []
    steps = 1 + len(settings.losses) * (len(settings.folds) + 1)
    bar = tqdm(total=steps, desc="nnU-Net", unit="step", disable=not progress)

    def run(step: str, phase: str, command: list[str]) -> bool:
        bar.set_postfix_str(step)
        start = time.perf_counter()
        ok = _step(command, logs / f"{step}.log", env)
        seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - start
        (done if ok else failed).append(step)
        bar.update()
        return ok

    marker = out / "nnUNet_preprocessed" / root.name / f".lossbench-{settings.configuration}"
    if marker.is_file():
        bar.update()
    elif run(
        "preprocess",
        "preprocessing",
        [
            _command("nnUNetv2_plan_and_preprocess"),
            "-d",
            dataset_id,
            "-c",
            settings.configuration,
            "-np",
            str(settings.processes),
            "--verify_dataset_integrity",
        ],
    ):
        marker.write_text("preprocessed\n")
    else:
        bar.close()
        raise RuntimeError(f"nnU-Net's preprocessing failed; its log: {logs / 'preprocess.log'}")
    predictions: dict[str, Path] = {}
    for loss in settings.losses:
        trainer = trainer_name(loss)
        model = results / f"{trainer}__{settings.plans}__{settings.configuration}"
        trained = True
        for fold in settings.folds:
            fold_dir = model / f"fold_{fold}"
            if (fold_dir / "checkpoint_final.pth").is_file():
                bar.update()
                continue
            resume = ["--c"] if (fold_dir / "checkpoint_latest.pth").is_file() else []
            trained &= run(
                f"train-{loss}-fold{fold}",
                "training",
                [
                    _command("nnUNetv2_train"),
                    dataset_id,
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
        target = out / "predictions" / loss
        if not trained:
            bar.update()
            continue
        if not (target / ".lossbench-done").is_file():
            if not run(
                f"predict-{loss}",
                "prediction",
                [
                    _command("nnUNetv2_predict"),
                    "-i",
                    str(root / "imagesTs"),
                    "-o",
                    str(target),
                    "-d",
                    dataset_id,
                    "-c",
                    settings.configuration,
                    "-tr",
                    trainer,
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
                continue
            (target / ".lossbench-done").write_text("predicted\n")
        else:
            bar.update()
        predictions[loss] = target
    bar.close()
    record.update(done=done, failed=failed, installed=str(installed))
    if not predictions:
        _write_record(out, record, seconds)
        raise RuntimeError(f"no loss finished training and prediction; see the logs in {logs}")
    start = time.perf_counter()
    rule = DetectionRule()
    table = score(
        root / "labelsTs", predictions, label=label, rule=rule, workers=workers, progress=progress
    )
    written = {k: str(v) for k, v in predictions.items()}
    scored = {
        "reference": str(root / "labelsTs"),
        "predictions": written,
        "label": label,
        "nnunet": record["settings"],
    }
    paths = write_scores(table, out, rule, scored)
    from lossbench.report import build_report

    try:
        paths += list(build_report(out, baseline=next(iter(predictions))))
    except ValueError as exc:  # e.g. no test case with lesions
        print(f"lossbench nnunet benchmark: no report: {exc}", file=sys.stderr)
    seconds["scoring and report"] = time.perf_counter() - start
    record["written"] = [str(p) for p in paths]
    _write_record(out, record, seconds)
    return record


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
