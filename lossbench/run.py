"""The grid of trials (losses x seeds), the run directory, resume and the results table.

The run folder's layout is :class:`lossbench.layout.RunLayout`. A trial is a pure function of
(resolved config, loss, seed) that writes only its own folder; a finished trial (``metrics.csv``
present) is never recomputed, an interrupted one resumes from its last checkpoint. A lock keeps a
second driver out of a folder in use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from lossbench.config import STORED_TABLES, Config, from_toml, stored_table, to_toml, validate
from lossbench.data import complete_cases, load_dataset, synthesize
from lossbench.data.msseg2 import Dataset
from lossbench.data.preprocess import PreparedCase, prepare_case, to_native
from lossbench.infer import sliding_window
from lossbench.layout import RunLayout, TrialLayout
from lossbench.losses import get_loss_class, list_losses
from lossbench.metrics import evaluate_case
from lossbench.train import (
    NonFiniteLossError,
    autocast_dtype,
    build_model,
    resolve_precision,
    train_trial,
)

__all__ = [
    "PAPER_SPLIT",
    "RunFolderInUseError",
    "collect",
    "plan",
    "record_timing",
    "resolve_device",
    "resolve_losses",
    "run",
]

PAPER_SPLIT = {
    "train": "015 016 018 019 020 021 024 029 030 032 035 037 039 043 047 048 049 051 052 057 061 "
    "068 069 070 074 077 083 084 088 089 090 096".split(),
    "test": "013 026 027 091 094 095 099 100".split(),
}


class RunFolderInUseError(RuntimeError):
    """Another ``lossbench run`` holds the run folder's lock."""


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


def _environment(device: torch.device, precision: str) -> dict[str, dict[str, Any]]:
    import lossbench

    try:
        revision = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(lossbench.__file__).parent, check=False,
        ).stdout.strip()  # fmt: skip
    except OSError:
        revision = ""
    return {
        "environment": {
            "lossbench": lossbench.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "device": str(device),
            "precision": resolve_precision(precision, device),
            "device_name": torch.cuda.get_device_name(0)
            if device.type == "cuda"
            else platform.processor(),
            "git_revision": revision or "unknown",
        }
    }


def _split(config: Config, layout: RunLayout) -> tuple[Dataset, Dataset]:
    data = config.data
    if data.source == "synthetic":
        shape = (int(data.shape[0]), int(data.shape[1]), int(data.shape[2]))
        spacing = (float(data.spacing[0]), float(data.spacing[1]), float(data.spacing[2]))
        sets = []
        for split, count, seed in (("train", data.cases, data.seed),
                                   ("test", data.test_cases, data.seed + 1)):  # fmt: skip
            synthesize(
                layout.data(split), count, seed, shape, spacing, lesion_free=data.lesion_free
            )
            sets.append(load_dataset(layout.data(split)))
        return sets[0], sets[1]
    root = Path(data.source)
    complete = complete_cases(root)
    if set(PAPER_SPLIT["train"] + PAPER_SPLIT["test"]) <= set(complete):
        return load_dataset(root, PAPER_SPLIT["train"]), load_dataset(root, PAPER_SPLIT["test"])
    order = np.random.default_rng(data.seed).permutation(len(complete))
    n_test = max(1, round(data.test_fraction * len(complete)))
    test_ids = sorted(complete[i] for i in order[:n_test])
    train_ids = sorted(complete[i] for i in order[n_test:])
    return load_dataset(root, train_ids), load_dataset(root, test_ids)


def _test_data(test_set: Dataset, layout: RunLayout) -> dict[str, object]:
    """Where the test cases lie: relative to the run folder when inside it, else absolute."""
    root = test_set.root.resolve()
    try:
        where = root.relative_to(layout.root.resolve()).as_posix()
    except ValueError:
        where = str(root)
    return {"root": where, "case_ids": list(test_set.case_ids)}


def _prepare(dataset: Dataset, config: Config, desc: str, progress: bool) -> list[PreparedCase]:
    target = config.data.target_spacing or None
    return [
        prepare_case(c, target)
        for c in tqdm(dataset, desc=desc, unit="case", disable=not progress, leave=False)
    ]


def plan(config: Config, losses: Sequence[str]) -> str:
    """The trial plan and an estimated time (from the measured speed of one training step).

    Example:
        >>> from lossbench.config import preset
        >>> "trials" in plan(preset("quick"), ["dice"])
        True
    """
    validate(config)
    device = resolve_device(config.device)
    model = build_model(config, 0).to(device)
    optimizer = torch.optim.Adam(model.parameters())
    size = config.train.patch_size
    x = torch.randn(config.train.batch_size, 3, size, size, size, device=device)
    dtype = autocast_dtype(config.train.precision, device)
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        optimizer.zero_grad()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = model(x)
        out.float().mean().backward()
        optimizer.step()
        timings.append(time.perf_counter() - start)
    step = float(np.median(timings))
    trials = len(losses) * len(config.seeds)
    steps = trials * config.train.iterations
    steps += config.train.pretrain_iterations if config.train.init == "pretrain" else 0
    data, train = config.data, config.train
    source = data.source
    if source == "synthetic":
        source += f" ({data.cases} train / {data.test_cases} test cases)"
    pretraining = ""
    if train.init == "pretrain":
        pretraining = f" after a {train.pretrain_iterations}-iteration pretraining"
    lines = [
        f"preset {config.preset}: {len(losses)} losses x {len(config.seeds)} seeds = "
        f"{trials} trials",
        f"losses: {', '.join(losses)}",
        f"data: {source}",
        f"model: V-Net width {config.model.width}, {config.model.levels} levels; patch "
        f"{size}^3, batch {train.batch_size}, {train.iterations} iterations per trial"
        + pretraining,
        f"device {device}, {resolve_precision(config.train.precision, device)}: "
        f"{step * 1000:.0f} ms per step -> about {steps * step / 60:.1f} min of "
        "training, plus data generation and evaluation",
    ]
    return "\n".join(lines)


def _pretrain(
    config: Config, cases: list, layout: RunLayout, device: torch.device, progress: bool
) -> dict | None:
    train = config.train
    if train.init == "scratch":
        return None
    if train.init != "pretrain":  # a state-dict file, checked by validate
        return torch.load(train.init, map_location="cpu", weights_only=True)
    stage = layout.pretrain
    if not stage.model.exists():
        model, _ = train_trial(
            train.pretrain_loss, config.data.seed, cases, config, stage, device,
            iterations=train.pretrain_iterations, lr=train.pretrain_lr, progress=progress,
        )  # fmt: skip
        partial = stage.model.with_suffix(".partial")
        torch.save(model.state_dict(), partial)
        partial.replace(stage.model)
    return torch.load(stage.model, map_location="cpu", weights_only=True)


def _evaluate(model: torch.nn.Module, cases: list[PreparedCase], config: Config,
              trial: TrialLayout, device: torch.device, progress: bool) -> list[dict]:  # fmt: skip
    import nibabel as nib

    rows = []
    for case in tqdm(cases, desc="evaluate", unit="case", leave=False, disable=not progress):
        prob = sliding_window(
            model, case.image, config.eval.window or config.train.patch_size, config.eval.overlap,
            device,
            dtype=autocast_dtype(config.train.precision, device),
        )  # fmt: skip
        # scored on the case's own grid against its own label, as the MSSEG-2 challenge did
        pred = to_native(prob * case.brain_mask, case) > config.eval.threshold
        metrics = evaluate_case(pred, case.native_label, case.native_spacing)
        rows.append({"case_id": case.case_id, **metrics})
        if config.eval.save_predictions:
            trial.predictions.mkdir(exist_ok=True)
            nib.save(
                nib.Nifti1Image(pred.astype(np.uint8), case.affine), trial.prediction(case.case_id)
            )
    return rows


@contextlib.contextmanager
def _locked(layout: RunLayout) -> Iterator[None]:
    """Hold the run folder's lock; a second driver on the same folder is refused at once.

    The lock is an advisory ``flock`` on ``<run>/.lock``: the kernel releases it when the holder
    exits, even when killed, so a crashed run never leaves the folder locked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover  (Windows: no advisory locks; run one driver at a time)
        yield
        return
    layout.root.mkdir(parents=True, exist_ok=True)
    with layout.lock.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise RunFolderInUseError(
                f"{layout.root} is in use by another lossbench run (pid {holder}); wait for it "
                "to finish or stop it, then rerun to resume"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_out(layout: RunLayout, config: Config, resume: bool, force: bool) -> Config:
    if force:
        for entry in layout.root.iterdir():
            if entry != layout.lock:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    elif layout.config.exists():
        previous = from_toml(layout.config)
        if resume:
            return validate(previous)  # a stored config.toml may have been edited by hand
        if dataclasses.asdict(previous) != dataclasses.asdict(config):
            raise ValueError(
                f"{layout.root} holds a run with a different configuration; resume it with its "
                "own configuration (resume=True, --resume), or start over (force=True, --force)"
            )
    return config


def run(config: Config, out: str | Path, *, resume: bool = False, force: bool = False,
        progress: bool = True) -> Path:  # fmt: skip
    """Run every (loss, seed) trial of ``config`` into ``out``; returns the results CSV path.

    Every value is validated (:func:`lossbench.config.validate`) before the folder is created,
    changed or, with ``force``, emptied.

    Raises:
        ValueError: a value :func:`lossbench.config.validate` refuses (unknown loss, device,
            value out of range), or ``out`` holding another configuration.
        FileNotFoundError: the data folder holds no complete case, or ``train.init`` names no
            file.
        RunFolderInUseError: another run holds ``out``.
    """
    layout = RunLayout(Path(out))
    validate(config)
    with _locked(layout):
        config = _check_out(layout, config, resume, force)
        return _run_locked(config, layout, progress)


class _Clock:
    """Wall seconds per phase of one invocation of ``run`` (data, pretraining, training,
    evaluation), written to ``config.toml`` as the ``timing`` table."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.seconds[name] = round(self.seconds.get(name, 0.0) + elapsed, 2)


def _run_locked(config: Config, layout: RunLayout, progress: bool) -> Path:
    losses = resolve_losses(config.losses)
    device = resolve_device(config.device)
    stored: dict[str, dict[str, Any]] = dict(_environment(device, config.train.precision))
    layout.config.write_text(to_toml(config, stored))
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    clock = _Clock()
    with clock.phase("data"):
        train_set, test_set = _split(config, layout)
        stored["test_data"] = _test_data(test_set, layout)
        layout.config.write_text(to_toml(config, stored))
        pairs = [(c.image, c.label) for c in _prepare(train_set, config, "prepare train", progress)]
        test_cases = _prepare(test_set, config, "prepare test", progress)
    with clock.phase("pretraining"):
        init_state = _pretrain(config, pairs, layout, device, progress)
    failures = []
    grid = [(seed, loss) for seed in config.seeds for loss in losses]
    for seed, loss in tqdm(grid, desc="trials", unit="trial", disable=not progress):
        trial = layout.trial(loss, seed)
        if trial.metrics.exists():
            continue
        try:
            with clock.phase("training"):
                model, seconds = train_trial(loss, seed, pairs, config, trial, device,
                                             init_state, progress=progress)  # fmt: skip
        except NonFiniteLossError as exc:
            failures.append({"loss": loss, "seed": seed, "error": str(exc)})
            trial.failed.write_text(json.dumps(failures[-1]))
            continue
        with clock.phase("evaluation"):
            rows = _evaluate(model, test_cases, config, trial, device, progress)
        frame = pd.DataFrame(rows)
        frame.insert(0, "seed", seed)
        frame.insert(0, "loss", loss)
        frame["train_seconds"] = round(seconds, 2)
        _write_atomic(frame, trial.metrics)
    if failures:
        _write_atomic(pd.DataFrame(failures), layout.failures)
    stored["timing"] = clock.seconds
    layout.config.write_text(to_toml(config, stored))
    return collect(layout.root, losses, config.seeds)


def record_timing(out: str | Path, phase: str, seconds: float) -> dict[str, float]:
    """Add the wall ``seconds`` of ``phase`` (e.g. ``"report"``) to the ``timing`` table of a
    run's ``config.toml``; returns the whole table (seconds per phase).

    Example:
        >>> import tempfile
        >>> from lossbench.config import preset
        >>> folder = Path(tempfile.mkdtemp())
        >>> text = to_toml(preset("quick"), {"timing": {"data": 2.0}})
        >>> _ = (folder / "config.toml").write_text(text)
        >>> record_timing(folder, "report", 3.5)
        {'data': 2.0, 'report': 3.5}
    """
    layout = RunLayout(Path(out))
    tables = {name: stored_table(layout.config, name) for name in STORED_TABLES}
    tables["timing"] = {**tables["timing"], phase: round(seconds, 2)}
    layout.config.write_text(
        to_toml(from_toml(layout.config), {k: v for k, v in tables.items() if v})
    )
    return tables["timing"]


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV beside ``path`` and rename it into place: a crash or a full disk
    leaves the previous file (or none), never half a table."""
    partial = path.with_name(path.name + ".partial")
    try:
        frame.to_csv(partial, index=False)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def collect(out: str | Path, losses: Sequence[str], seeds: Sequence[int]) -> Path:
    """Gather the finished trials' ``metrics.csv`` of a run folder into ``results.csv`` and
    ``results.parquet``; returns the CSV path. Trials without metrics are skipped.

    Example:
        >>> import tempfile
        >>> collect(tempfile.mkdtemp(), ["dice"], [0]).name
        'results.csv'
    """
    layout = RunLayout(Path(out))
    frames = [
        pd.read_csv(layout.trial(loss, seed).metrics, dtype={"case_id": str})
        for seed in seeds for loss in losses
        if layout.trial(loss, seed).metrics.exists()
    ]  # fmt: skip
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    _write_atomic(table, layout.results_csv)
    partial = layout.results_parquet.with_name(layout.results_parquet.name + ".partial")
    try:
        table.to_parquet(partial, index=False)
        partial.replace(layout.results_parquet)
    finally:
        partial.unlink(missing_ok=True)
    return layout.results_csv
