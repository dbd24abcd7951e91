"""One trial of a prepared run folder: its cases read from the folder, trained, evaluated, and
its per-case metrics written into its own folder.

:func:`run_trial` (and :func:`pretrain`, the shared starting point) are pure functions of (run
folder, loss, seed) that write only their own folder, so every executor, in-process, on Ray or a
SLURM array of ``lossbench trial``, calls them unchanged and gets the same numbers. A finished trial
(``metrics.csv`` present) is left alone, an interrupted one resumes from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import platform
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from lossbench._files import write_atomic
from lossbench._folders import require_run
from lossbench.config import Config, from_toml, validate
from lossbench.data import complete_cases, load_dataset, synthesize
from lossbench.data.msseg2 import Dataset
from lossbench.data.nnunet import NnunetDataset, is_nnunet_dataset
from lossbench.data.preprocess import PreparedCase, prepare_case, to_native
from lossbench.infer import sliding_window
from lossbench.layout import RunLayout, TrialLayout
from lossbench.losses import get_loss_class, list_losses
from lossbench.metrics import evaluate_case
from lossbench.train import (
    NonFiniteLossError,
    autocast_dtype,
    resolve_precision,
    train_trial,
)

__all__ = [
    "PAPER_SPLIT",
    "pretrain",
    "record_failure",
    "resolve_device",
    "resolve_losses",
    "resolve_threads",
    "run_trial",
    "trial_grid",
]

PAPER_SPLIT = {
    "train": "015 016 018 019 020 021 024 029 030 032 035 037 039 043 047 048 049 051 052 057 061 "
    "068 069 070 074 077 083 084 088 089 090 096".split(),
    "test": "013 026 027 091 094 095 099 100".split(),
}


_MACHINE_THREADS = torch.get_num_threads()  # torch's choice on this machine: its physical cores


def resolve_losses(names: Sequence[str]) -> list[str]:
    """``["all"]`` or registered names (unknown ones raise with a did-you-mean).

    Example:
        >>> resolve_losses(["dice", "hytver"])
        ['dice', 'hytver']
    """
    if list(names) == ["all"]:
        return list_losses()
    for name in names:
        get_loss_class(name)  # raises ValueError with the closest name
    return list(dict.fromkeys(names))


def resolve_device(name: str) -> torch.device:
    """The device of a validated ``device`` setting: ``auto`` is CUDA when available, else CPU.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_threads(config: Config) -> Config:
    """``config`` with ``train.threads = 0`` replaced by the thread count torch chooses on this
    machine (its physical cores); a positive count is kept.

    The count is resolved once, when a run folder is created, and stored with the
    configuration: every trial of the run then uses it on any executor and any node.

    Example:
        >>> from lossbench.config import preset
        >>> resolve_threads(preset("quick")).train.threads >= 1
        True
    """
    if config.train.threads:
        return config
    train = dataclasses.replace(config.train, threads=_MACHINE_THREADS)
    return dataclasses.replace(config, train=train)


def _device_label(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({threads} thread{'s' if threads > 1 else ''})"


def _trial_environment(device: torch.device, config: Config, threads: int) -> dict[str, Any]:
    """Where and how a trial ran: host, device, library versions, determinism settings."""
    cudnn = torch.backends.cudnn
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "device": str(device),
        "device_name": _device_label(device, threads),
        "threads": threads,
        "precision": resolve_precision(config.train.precision, device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "",
        "cudnn": str(cudnn.version() or "") if cudnn.is_available() else "",
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(cudnn.deterministic),
        "cudnn_benchmark": bool(cudnn.benchmark),
        "python": platform.python_version(),
    }


_Cases_ = Dataset | NnunetDataset  # an MSSEG-2 folder's cases or an nnU-Net dataset's split


def _split(config: Config, layout: RunLayout, generate: bool) -> tuple[_Cases_, _Cases_]:
    """The train and test sets; synthetic cases are written into the run folder when
    ``generate`` (the driver), and only read otherwise (a trial)."""
    data = config.data
    if data.source == "synthetic":
        shape = (int(data.shape[0]), int(data.shape[1]), int(data.shape[2]))
        spacing = (float(data.spacing[0]), float(data.spacing[1]), float(data.spacing[2]))
        sets = []
        for split, count, seed in (
            ("train", data.cases, data.seed),
            ("test", data.test_cases, data.seed + 1),
        ):
            if generate:
                synthesize(
                    layout.data(split), count, seed, shape, spacing, lesion_free=data.lesion_free
                )
            sets.append(load_dataset(layout.data(split)))
        return sets[0], sets[1]
    root = Path(data.source)
    if is_nnunet_dataset(root):
        train = NnunetDataset(root, "Tr", data.label)
        if (root / "labelsTs").is_dir():
            return train, NnunetDataset(root, "Ts", data.label)
        order = np.random.default_rng(data.seed).permutation(len(train))
        n_test = max(1, round(data.test_fraction * len(train)))
        test_ids = sorted(train.case_ids[i] for i in order[:n_test])
        train_ids = sorted(train.case_ids[i] for i in order[n_test:])
        return (
            NnunetDataset(root, "Tr", data.label, train_ids),
            NnunetDataset(root, "Tr", data.label, test_ids),
        )
    complete = complete_cases(root)
    if set(PAPER_SPLIT["train"] + PAPER_SPLIT["test"]) <= set(complete):
        return load_dataset(root, PAPER_SPLIT["train"]), load_dataset(root, PAPER_SPLIT["test"])
    order = np.random.default_rng(data.seed).permutation(len(complete))
    n_test = max(1, round(data.test_fraction * len(complete)))
    test_ids = sorted(complete[i] for i in order[:n_test])
    train_ids = sorted(complete[i] for i in order[n_test:])
    return load_dataset(root, train_ids), load_dataset(root, test_ids)


def _prepare(dataset: _Cases_, config: Config, desc: str, progress: bool) -> list[PreparedCase]:
    target = config.data.target_spacing or None
    difference = config.data.difference_channel
    return [
        prepare_case(c, target, difference=difference)
        for c in tqdm(dataset, desc=desc, unit="case", disable=not progress, leave=False)
    ]


@dataclass(frozen=True)
class _Cases:
    """A prepared run folder's configuration and cases, as every trial of it needs them."""

    pairs: list[tuple[np.ndarray, np.ndarray]]  # training (image, label)
    test: list[PreparedCase]


_CACHE: dict[tuple[str, str], _Cases] = {}


def _stored_config(layout: RunLayout) -> Config:
    require_run(layout.root)
    return validate(from_toml(layout.config))


def _cases(layout: RunLayout, config: Config, progress: bool) -> _Cases:
    """The run's prepared cases, read once per process (a Ray worker keeps them between the
    trials it runs)."""
    key = (str(layout.root.resolve()), repr(dataclasses.asdict(config)))
    if key not in _CACHE:
        train_set, test_set = _split(config, layout, generate=False)
        pairs = [(c.image, c.label) for c in _prepare(train_set, config, "prepare train", progress)]
        _CACHE.clear()  # one run at a time per process: keep memory bounded
        _CACHE[key] = _Cases(pairs, _prepare(test_set, config, "prepare test", progress))
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


def _trial_threads(config: Config, device: torch.device, cpus: int | None) -> int:
    # on the CPU the count is part of the numbers, so the run's own; on CUDA, the trial's CPUs
    if device.type == "cpu" or cpus is None:
        return config.train.threads or _MACHINE_THREADS
    return cpus


def pretrain(out: str | Path, *, progress: bool = True, cpus: int | None = None) -> Path | None:
    """Run the shared pretraining of a prepared run folder (``train.init = "pretrain"``) unless
    it is done; returns its weights file, or None for a run without pretraining.

    Like a trial, it resumes from its checkpoint and writes only ``<run>/pretrain/``.

    Args:
        out: a run folder created by :func:`prepare` (or ``lossbench run --plan-only``).
        progress: show progress bars.
        cpus: on CUDA, the torch threads of the task (default: ``train.threads``); on the CPU
            the run's ``train.threads`` always applies.
    """
    layout = RunLayout(Path(out))
    config = _stored_config(layout)
    if config.train.init != "pretrain":
        return None
    stage = layout.pretrain
    if not stage.model.exists():
        cases = _cases(layout, config, progress)
        device = resolve_device(config.device)
        with _trial_settings(device, _trial_threads(config, device, cpus)):
            model, _ = train_trial(
                config.train.pretrain_loss,
                config.data.seed,
                cases.pairs,
                config,
                stage,
                device,
                iterations=config.train.pretrain_iterations,
                lr=config.train.pretrain_lr,
                progress=progress,
            )
        write_atomic(stage.model, lambda path: torch.save(model.state_dict(), path))
    return stage.model


def _init_state(config: Config, layout: RunLayout) -> dict | None:
    train = config.train
    if train.init == "scratch":
        return None
    path = Path(train.init) if train.init != "pretrain" else layout.pretrain.model
    if not path.exists():
        raise FileNotFoundError(
            f"{layout.root}: the shared pretraining has not finished ({path} is missing); run "
            "`lossbench run --plan-only` on the folder first"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


def trial_grid(config: Config) -> list[tuple[str, int]]:
    """The run's trials as ``(loss, seed)`` pairs, seed by seed: the order of ``lossbench trial
    --index``.

    Example:
        >>> from lossbench.config import preset
        >>> config = preset("quick")
        >>> config.losses, config.seeds = ["dice", "ce"], [0, 1]
        >>> trial_grid(config)
        [('dice', 0), ('ce', 0), ('dice', 1), ('ce', 1)]
    """
    losses = resolve_losses(config.losses)
    return [(loss, seed) for seed in config.seeds for loss in losses]


def run_trial(
    out: str | Path, loss: str, seed: int, *, progress: bool = True, cpus: int | None = None
) -> dict[str, Any]:
    """Train and evaluate one trial of a prepared run folder; a pure function of (folder, loss,
    seed) that writes only ``<run>/trials/<loss>-seed<k>/``. Every executor calls it.

    A finished trial is left as it is; an interrupted one resumes from its checkpoint. The
    trial's ``environment.json`` records host, device, versions and determinism settings.

    Args:
        out: a run folder created by :func:`prepare`.
        loss, seed: one trial of the run's grid (:func:`trial_grid`).
        progress: show progress bars.
        cpus: on CUDA, the torch threads of the trial (default: ``train.threads``); on the CPU
            the run's ``train.threads`` always applies, since it changes the numbers.

    Returns:
        ``{"loss", "seed", "status", "error", "train_seconds", "eval_seconds", "device"}`` with
        status ``"done"``, ``"finished before"`` or ``"failed"`` (a non-finite loss).

    Raises:
        ValueError: (loss, seed) is not a trial of the run.
        FileNotFoundError: the folder is not prepared (no config, data or pretraining).
    """
    layout = RunLayout(Path(out))
    config = _stored_config(layout)
    if (loss, seed) not in trial_grid(config):
        raise ValueError(
            f"{loss} with seed {seed} is not a trial of {layout.root}: its losses are "
            f"{', '.join(resolve_losses(config.losses))} and its seeds "
            f"{', '.join(map(str, config.seeds))}"
        )
    trial = layout.trial(loss, seed)
    outcome: dict[str, Any] = {
        "loss": loss,
        "seed": seed,
        "status": "finished before",
        "error": "",
        "train_seconds": 0.0,
        "eval_seconds": 0.0,
    }
    if trial.metrics.exists():
        return outcome
    init_state = _init_state(config, layout)
    cases = _cases(layout, config, progress)
    device = resolve_device(config.device)
    threads = _trial_threads(config, device, cpus)
    trial.folder.mkdir(parents=True, exist_ok=True)
    with _trial_settings(device, threads):
        environment = _trial_environment(device, config, threads)
        _write_text_atomic(json.dumps(environment, indent=1), trial.environment)
        outcome["device"] = environment["device_name"]
        try:
            model, seconds = train_trial(
                loss, seed, cases.pairs, config, trial, device, init_state, progress=progress
            )
        except NonFiniteLossError as exc:
            record_failure(layout.root, loss, seed, str(exc))
            return {**outcome, "status": "failed", "error": str(exc)}
        start = time.perf_counter()
        rows = _evaluate(model, cases.test, config, trial, device, progress)
        outcome["eval_seconds"] = round(time.perf_counter() - start, 2)
    frame = pd.DataFrame(rows)
    frame.insert(0, "seed", seed)
    frame.insert(0, "loss", loss)
    frame["train_seconds"] = round(seconds, 2)
    frame["device"] = environment["device_name"]
    trial.failed.unlink(missing_ok=True)
    _write_atomic(frame, trial.metrics)
    return {**outcome, "status": "done", "train_seconds": round(seconds, 2)}


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
    _write_text_atomic(json.dumps({"loss": loss, "seed": seed, "error": error}), trial.failed)
    return trial.failed


def _evaluate(
    model: torch.nn.Module,
    cases: list[PreparedCase],
    config: Config,
    trial: TrialLayout,
    device: torch.device,
    progress: bool,
) -> list[dict]:
    import nibabel as nib

    rows = []
    for case in tqdm(cases, desc="evaluate", unit="case", leave=False, disable=not progress):
        prob = sliding_window(
            model,
            case.image,
            config.eval.window or config.train.patch_size,
            config.eval.overlap,
            device,
            dtype=autocast_dtype(config.train.precision, device),
        )
        # scored on the case's own grid against its own label, as the MSSEG-2 challenge did
        pred = to_native(prob * case.brain_mask, case) > config.eval.threshold
        metrics = evaluate_case(pred, case.native_label, case.native_spacing)
        rows.append({"case_id": case.case_id, **metrics})
        if config.eval.save_predictions:
            trial.predictions.mkdir(exist_ok=True)
            image = nib.Nifti1Image(pred.astype(np.uint8), case.affine)
            save = functools.partial(nib.save, image)
            write_atomic(trial.prediction(case.case_id), save, keep_ending=True)
    return rows


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV beside ``path`` and rename it into place: a crash or a full disk
    leaves the previous file (or none), never half a table."""
    write_atomic(path, lambda partial: frame.to_csv(partial, index=False))


def _write_text_atomic(text: str, path: Path) -> None:
    write_atomic(path, lambda partial: partial.write_text(text))
