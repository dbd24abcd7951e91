"""One trial of a prepared run folder: its cases read from the folder, trained, evaluated, and
its per-case metrics written into its own folder.

:func:`run_trial` (and :func:`pretrain`, the shared starting point) are pure functions of (run
folder, loss, seed) that write only their own folder, so every executor, in-process, on Ray or a
SLURM array of ``lossbench trial``, calls them unchanged and gets the same numbers. They read
what the run asked for (``config.toml``) and what it resolved to (``run.json``,
``splits.json``) and resolve nothing themselves. A finished trial (``metrics.csv`` present) is
left alone, an interrupted one resumes from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from lossbench._files import write_atomic, write_csv, write_json
from lossbench.config import Config
from lossbench.data.locations import LOCATION_CLASSES
from lossbench.data.preprocess import PreparedCase, prepare_case, to_native
from lossbench.infer import sliding_window
from lossbench.inputs import RunInputs, read_run, trial_grid
from lossbench.layout import RunLayout, TrialLayout
from lossbench.metrics import LESION_KEYS, calibration, evaluate_case_lesions
from lossbench.train import NonFiniteLossError, autocast_dtype, train_trial
from lossbench.tuning import all_trials, trial_plan

__all__ = [
    "PreparedCases",
    "RunInputs",
    "prepared_cases",
    "pretrain",
    "read_run",
    "record_failure",
    "run_trial",
    "trial_grid",
]


def _device(run: RunInputs) -> torch.device:
    device = torch.device(run.resolved.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"{run.layout.run_json} resolved the device to cuda, but torch sees no CUDA device "
            "here: run the trials where the run was prepared, or prepare it here"
        )
    return device


def _threads(run: RunInputs, device: torch.device, cpus: int | None) -> int:
    # on the CPU the count is part of the numbers, so the run's own; on CUDA, the trial's CPUs
    return run.resolved.threads if device.type == "cpu" or cpus is None else cpus


def _device_label(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({threads} thread{'s' if threads > 1 else ''})"


def _trial_environment(device: torch.device, precision: str, threads: int) -> dict[str, Any]:
    """Where and how a trial ran: host, device, library versions, determinism settings."""
    cudnn = torch.backends.cudnn
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "device": str(device),
        "device_name": _device_label(device, threads),
        "threads": threads,
        "precision": precision,
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "",
        "cudnn": str(cudnn.version() or "") if cudnn.is_available() else "",
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(cudnn.deterministic),
        "cudnn_benchmark": bool(cudnn.benchmark),
        "python": platform.python_version(),
    }


@dataclass(frozen=True)
class PreparedCases:
    """A prepared run folder's cases, as every trial of it needs them: the training
    ``(image, label)`` pairs and the test cases."""

    pairs: list[tuple[np.ndarray, np.ndarray]]  # training (image, label)
    test: list[PreparedCase]


_CACHE: dict[tuple[str, str], PreparedCases] = {}


def _prepare(cases: Any, config: Config, desc: str, progress: bool) -> list[PreparedCase]:
    target = config.data.target_spacing or None
    difference = config.data.difference_channel
    return [
        prepare_case(c, target, difference=difference)
        for c in tqdm(cases, desc=desc, unit="case", disable=not progress, leave=False)
    ]


def prepared_cases(run: RunInputs, progress: bool = False) -> PreparedCases:
    """The run's training pairs and test cases, prepared once per process (a Ray worker keeps
    them between the trials it runs)."""
    key = (str(run.layout.root.resolve()), repr(run))
    if key not in _CACHE:
        split, label = run.resolved.split, run.config.data.label
        train = _prepare(split.train.open(run.layout.root, label), run.config, "train", progress)
        test = _prepare(split.test.open(run.layout.root, label), run.config, "test", progress)
        _CACHE.clear()  # one run at a time per process: keep memory bounded
        _CACHE[key] = PreparedCases([(c.image, c.label) for c in train], test)
    return _CACHE[key]


@contextlib.contextmanager
def _trial_settings(device: torch.device, threads: int) -> Iterator[None]:
    """Torch's thread count and, on the CPU, deterministic algorithms, for one trial."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pretrain(out: str | Path, *, progress: bool = True, cpus: int | None = None) -> Path | None:
    """Run the shared pretraining of a prepared run folder (``train.init = "pretrain"``) unless
    it is done; returns its weights file, or None for a run without pretraining.

    Like a trial, it resumes from its checkpoint and writes only ``<run>/pretrain/``.

    Args:
        out: a run folder created by :func:`lossbench.run.prepare` (``run --plan-only``).
        progress: show progress bars.
        cpus: on CUDA, the torch threads of the task (default: the run's threads); on the CPU
            the run's resolved threads always apply.
    """
    run = read_run(out)
    train = run.config.train
    if train.init != "pretrain":
        return None
    stage = run.layout.pretrain
    if not stage.model.exists():
        cases = prepared_cases(run, progress)
        device = _device(run)
        with _trial_settings(device, _threads(run, device, cpus)):
            model, _ = train_trial(
                train.pretrain_loss,
                run.config.data.seed,
                cases.pairs,
                run.config,
                stage,
                device,
                iterations=train.pretrain_iterations,
                lr=train.pretrain_lr,
                progress=progress,
                precision=run.resolved.precision,
            )
        write_atomic(stage.model, lambda path: torch.save(model.state_dict(), path))
    return stage.model


def _init_state(run: RunInputs) -> dict | None:
    init = run.config.train.init
    if init == "scratch":
        return None
    path = Path(init) if init != "pretrain" else run.layout.pretrain.model
    if not path.exists():
        raise FileNotFoundError(
            f"{run.layout.root}: the shared pretraining has not finished ({path} is missing); "
            "run `lossbench run --plan-only` on the folder first"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


def _check_trial(run: RunInputs, loss: str, seed: int) -> None:
    if (loss, seed) not in all_trials(run):
        raise ValueError(
            f"{loss} with seed {seed} is not a trial of {run.layout.root}: its losses are "
            f"{', '.join(run.resolved.losses)} and its seeds "
            f"{', '.join(map(str, run.config.seeds))}"
        )


def _canonical(loss: str) -> str:
    """A loss variant's canonical id (``hytver(beta=0.80)`` is ``hytver(beta=0.8)``), so that
    any spelling finds its trial; text that is no variant is left to the grid's check."""
    from lossbench.losses.variants import parse_variant

    try:
        return parse_variant(loss).id
    except ValueError:
        return loss


def run_trial(
    out: str | Path, loss: str, seed: int, *, progress: bool = True, cpus: int | None = None
) -> dict[str, Any]:
    """Train and evaluate one trial of a prepared run folder; a pure function of (folder, loss,
    seed) that writes only ``<run>/trials/<loss>-seed<k>/``. Every executor calls it.

    A finished trial is left as it is; an interrupted one resumes from its checkpoint;
    ``environment.json`` records host, device, versions and determinism settings.

    Args:
        out: a run folder created by :func:`lossbench.run.prepare`.
        loss, seed: one trial of the run's grid (:func:`trial_grid`); variants in any spelling.
        progress: show progress bars.
        cpus: on CUDA, the torch threads of the trial (default: the run's threads); on the CPU
            the run's resolved threads always apply, since they change the numbers.

    Returns:
        ``{"loss", "seed", "status", "error", "train_seconds", "eval_seconds", "device"}`` with
        status ``"done"``, ``"finished before"`` or ``"failed"`` (a non-finite loss).

    Raises:
        ValueError: (loss, seed) is not a trial of the run.
        FileNotFoundError: the folder is not prepared (no run.json, data or pretraining).
    """
    run = read_run(out)
    loss = _canonical(loss)
    _check_trial(run, loss, seed)
    trial = run.layout.trial(loss, seed)
    outcome: dict[str, Any] = {"loss": loss, "seed": seed, "status": "finished before"}
    outcome.update(error="", train_seconds=0.0, eval_seconds=0.0)
    if trial.metrics.exists():
        return outcome
    spec, lr, inputs = trial_plan(run, loss)
    init_state, cases = _init_state(run), prepared_cases(inputs, progress)
    device = _device(run)
    threads = _threads(run, device, cpus)
    trial.folder.mkdir(parents=True, exist_ok=True)
    with _trial_settings(device, threads):
        environment = _trial_environment(device, run.resolved.precision, threads)
        write_json(trial.environment, environment)
        outcome["device"] = environment["device_name"]
        try:
            model, seconds = train_trial(
                *(spec, seed, cases.pairs, run.config, trial, device, init_state),
                lr=lr,
                progress=progress,
                precision=run.resolved.precision,
            )
        except NonFiniteLossError as exc:
            record_failure(run.layout.root, loss, seed, str(exc))
            return {**outcome, "status": "failed", "error": str(exc)}
        start = time.perf_counter()
        tables = _evaluate(model, cases.test, inputs, trial, device, progress)
        outcome["eval_seconds"] = round(time.perf_counter() - start, 2)
    _write_tables(trial, {"loss": loss, "seed": seed}, tables, seconds, environment)
    return {**outcome, "status": "done", "train_seconds": round(seconds, 2)}


def _write_tables(
    trial: TrialLayout,
    keys: dict[str, Any],
    tables: _Evaluation,
    seconds: float,
    environment: dict[str, Any],
) -> None:
    """The trial's tables, ``metrics.csv`` last: its presence marks the trial finished."""
    write_csv(trial.lesions, _keyed(tables.lesions, keys, columns=("case_id", *LESION_KEYS)))
    write_csv(trial.reliability, _keyed(tables.reliability, keys))
    frame = _keyed(tables.cases, keys).assign(train_seconds=round(seconds, 2))
    trial.failed.unlink(missing_ok=True)
    write_csv(trial.metrics, frame.assign(device=environment["device_name"]))


def _keyed(rows: list[dict], keys: dict[str, Any], columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """``rows`` as a table led by the trial's ``keys`` columns, then ``columns`` in order (by
    default the rows' own keys)."""
    frame = pd.DataFrame(rows, columns=list(columns) or None)
    for name, value in reversed(keys.items()):
        frame.insert(0, name, value)
    return frame


def record_failure(out: str | Path, loss: str, seed: int, error: str) -> Path:
    """Write why a trial stopped into its ``failed.json`` (gathered into ``failures.csv`` by
    :func:`lossbench.run.collect`); returns the file.

    Example:
        >>> import tempfile
        >>> record_failure(tempfile.mkdtemp(), "dice", 0, "loss became nan").name
        'failed.json'
    """
    trial = RunLayout(Path(out)).trial(loss, seed)
    trial.folder.mkdir(parents=True, exist_ok=True)
    return write_json(trial.failed, {"loss": loss, "seed": seed, "error": error})


@dataclass
class _Evaluation:
    """A trial's test-case tables: per-case metrics, per-lesion rows, reliability bins."""

    cases: list[dict] = field(default_factory=list)
    lesions: list[dict] = field(default_factory=list)
    reliability: list[dict] = field(default_factory=list)


def _evaluate(
    model: torch.nn.Module,
    cases: list[PreparedCase],
    run: RunInputs,
    trial: TrialLayout,
    device: torch.device,
    progress: bool,
) -> _Evaluation:
    config, tables = run.config, _Evaluation()
    dtype = autocast_dtype(run.resolved.precision)
    for case in tqdm(cases, desc="evaluate", unit="case", leave=False, disable=not progress):
        window = config.eval.window or config.train.patch_size
        prob = sliding_window(model, case.image, window, config.eval.overlap, device, dtype=dtype)
        # scored on the case's own grid against its own label, as the MSSEG-2 challenge did
        native = np.clip(to_native(prob * case.brain_mask, case), 0, 1)
        pred = native > config.eval.threshold
        metrics, lesions = evaluate_case_lesions(
            *(pred, case.native_label, case.native_spacing),
            regions=case.native_regions,
            region_names=LOCATION_CLASSES,  # "" for every lesion of a case without a map
        )
        fit = calibration(native, case.native_label, case.native_brain)
        tables.cases.append(
            {"case_id": case.case_id, **metrics, "ece": fit.ece, "brier": fit.brier}
        )
        tables.lesions += [{"case_id": case.case_id, **row} for row in lesions]
        tables.reliability += [
            {"case_id": case.case_id, "bin": b, "count": n, "prob_sum": p, "lesion_sum": y}
            for b, (n, p, y) in enumerate(
                zip(fit.voxels, fit.prob_sum, fit.lesion_sum, strict=True)
            )
        ]
        _save(trial, case, pred, native, config)
    return tables


def _save(
    trial: TrialLayout, case: PreparedCase, pred: np.ndarray, prob: np.ndarray, config: Config
) -> None:
    """The case's binary prediction (``eval.save_predictions``, uint8) and probability map
    (``eval.save_probabilities``) as NIfTI on its own grid. NIfTI has no float16 type, so the
    map takes 16 bits as uint16 under the header's scaling (slope about 1/65535), which every
    NIfTI reader applies: the probabilities come back within 8e-6."""
    import nibabel as nib

    saved = (  # (wanted, file, volume, the dtype on disk)
        (
            config.eval.save_predictions,
            trial.prediction(case.case_id),
            pred.view(np.uint8),
            np.uint8,
        ),
        (config.eval.save_probabilities, trial.probability(case.case_id), prob, np.uint16),
    )
    for wanted, path, volume, dtype in saved:
        if wanted:
            path.parent.mkdir(exist_ok=True)
            image = nib.Nifti1Image(volume, case.affine)
            image.set_data_dtype(dtype)
            write_atomic(path, functools.partial(nib.save, image), keep_ending=True)
