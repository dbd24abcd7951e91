"""The grid of trials (losses x seeds), the run directory, resume and the results table.

The run folder's layout is :class:`lossbench.layout.RunLayout`, and the folder is the only state
a run shares. :func:`prepare` writes the configuration, the data and the shared pretraining; the
trials (:func:`lossbench.trial.run_trial`) then run on an executor (:mod:`lossbench.executors`)
and :func:`collect` gathers them. A lock keeps a second driver out of a folder in use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
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

from lossbench._files import write_atomic
from lossbench._folders import check_deletable, check_output, require_run
from lossbench._lock import RunFolderInUseError, hold
from lossbench.config import STORED_TABLES, Config, from_toml, stored_table, to_toml, validate
from lossbench.data.msseg2 import Dataset
from lossbench.data.nnunet import NnunetDataset
from lossbench.executors import Executor, LocalExecutor
from lossbench.layout import RunLayout
from lossbench.results import check_table
from lossbench.train import (
    autocast_dtype,
    build_model,
    resolve_precision,
)
from lossbench.trial import (
    PAPER_SPLIT,
    _cases,
    _split,
    _write_atomic,
    resolve_device,
    resolve_losses,
    resolve_threads,
    run_trial,
    trial_grid,
)

__all__ = [
    "PAPER_SPLIT",
    "RunFolderInUseError",
    "check_run_folder",
    "collect",
    "missing_trials",
    "plan",
    "prepare",
    "record_timing",
    "resolve_device",
    "resolve_losses",
    "resolve_threads",
    "run",
    "run_trial",
    "trial_grid",
]


def _environment(device: torch.device, precision: str) -> dict[str, dict[str, Any]]:
    import lossbench

    try:
        revision = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(lossbench.__file__).parent,
            check=False,
        ).stdout.strip()
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


def _test_data(test_set: Dataset | NnunetDataset, layout: RunLayout) -> dict[str, object]:
    """Where the test cases lie: relative to the run folder when inside it, else absolute."""
    root = test_set.root.resolve()
    try:
        where = root.relative_to(layout.root.resolve()).as_posix()
    except ValueError:
        where = str(root)
    return {"root": where, "case_ids": list(test_set.case_ids)}


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
    x = torch.randn(config.train.batch_size, model.in_channels, size, size, size, device=device)
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


def check_run_folder(config: Config, out: str | Path, force: bool = False) -> list[Path]:
    """Check, before anything is created, that a run may use the folder ``out``; returns the
    paths that ``force`` deletes there (every existing path of :attr:`RunLayout.written`, nothing
    else; empty when ``out`` holds no run).

    A run goes into a new or empty folder, or into a run folder (lossbench's own
    ``config.toml``). ``force`` empties only a run folder that is not the home folder, a
    filesystem root or the current directory, and holds neither the data folder nor lossbench
    itself. The output never overlaps the data folder.

    Raises:
        ValueError: the folder holds something else (named), or ``force`` is refused there.

    Example:
        >>> import tempfile
        >>> from lossbench.config import preset
        >>> check_run_folder(preset("quick"), tempfile.mkdtemp(), force=True)
        []
    """
    layout = RunLayout(Path(out))
    data = None if config.data.source == "synthetic" else Path(config.data.source)
    if force:
        check_deletable(layout.root, data)
    check_output(layout.root, "run", inputs=[("data folder", data)] if data else ())
    return [path for path in layout.written if path.exists()]


def _take_out(layout: RunLayout, config: Config, resume: bool, force: bool) -> Config:
    """Under the lock: empty the run folder (``force``, only the paths a run writes), or check
    the stored configuration against ``config``; returns the configuration to run."""
    if force:
        for path in check_run_folder(config, layout.root, force=True):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    elif layout.config.exists():
        previous = from_toml(layout.config)
        if resume:
            return validate(previous)  # a stored config.toml may have been edited by hand
        changed = _changed_keys(dataclasses.asdict(previous), dataclasses.asdict(config))
        if changed:
            raise ValueError(
                f"{layout.root} holds a run with a different configuration ({', '.join(changed)});"
                " resume it with its own configuration (resume=True, --resume), or start over "
                "(force=True, --force)"
            )
    return config


def _changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key} {a!r} there, {b!r} here")
    return keys


def prepare(
    config: Config,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Create or check out the run folder ``out``: its configuration, its data and the shared
    pretraining, everything the trials need; returns the ``config.toml`` path. The trials can
    then run anywhere that sees the folder (``lossbench trial``, :func:`run_trial`).

    Raises the same errors as :func:`run`.
    """
    layout = RunLayout(Path(out))
    config = resolve_threads(validate(config))
    check_run_folder(config, layout.root, force)
    with hold(layout.lock, layout.root):
        config = _take_out(layout, config, resume, force)
        _prepare_locked(config, layout, LocalExecutor(), progress, _Clock())
    return layout.config


def run(
    config: Config,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    executor: Executor | None = None,
) -> Path:
    """Run every (loss, seed) trial of ``config`` into ``out``; returns the results CSV path.

    Every value is validated (:func:`lossbench.config.validate`) and the folder checked
    (:func:`check_run_folder`) before the folder is created, changed or, with ``force``,
    emptied. ``executor`` decides where the trials run: in this process by default
    (:class:`lossbench.executors.LocalExecutor`), or on a Ray cluster
    (:class:`lossbench.executors.RayExecutor`); the results do not depend on it.

    Raises:
        ValueError: a value :func:`lossbench.config.validate` refuses (unknown loss, device,
            value out of range), ``out`` holding another configuration or something that is not
            a run, or ``force`` where :func:`check_run_folder` refuses it.
        FileNotFoundError: the data folder holds no complete case, or ``train.init`` names no
            file.
        RunFolderInUseError: another run holds ``out`` (the message names its host and pid).
    """
    layout = RunLayout(Path(out))
    config = resolve_threads(validate(config))
    executor = executor or LocalExecutor()
    check_run_folder(config, layout.root, force)
    with hold(layout.lock, layout.root):
        config = _take_out(layout, config, resume, force)
        return _run_locked(config, layout, executor, progress)


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


def _prepare_locked(
    config: Config, layout: RunLayout, executor: Executor, progress: bool, clock: _Clock
) -> dict[str, dict[str, Any]]:
    device = resolve_device(config.device)
    stored: dict[str, dict[str, Any]] = dict(_environment(device, config.train.precision))
    layout.config.write_text(to_toml(config, stored))
    with clock.phase("data"):
        _, test_set = _split(config, layout, generate=True)
        stored["test_data"] = _test_data(test_set, layout)
        layout.config.write_text(to_toml(config, stored))
        if executor.in_process:  # the trials run in this process: prepare their cases once
            _cases(layout, from_toml(layout.config), progress)  # as the trials read it
    with clock.phase("pretraining"):
        executor.pretrain(layout, progress)
    return stored


def _run_locked(config: Config, layout: RunLayout, executor: Executor, progress: bool) -> Path:
    clock = _Clock()
    with executor.session(layout, config):
        stored = _prepare_locked(config, layout, executor, progress, clock)
        pending = [t for t in trial_grid(config) if not layout.trial(*t).metrics.exists()]
        with clock.phase("trials"):
            outcomes = executor.trials(layout, pending, progress)
    for name, key in (("training", "train_seconds"), ("evaluation", "eval_seconds")):
        clock.seconds[name] = round(sum(o.get(key, 0.0) for o in outcomes), 2)
    if executor.in_process:  # the trials' wall time is their training plus their evaluation
        del clock.seconds["trials"]
    stored["timing"] = clock.seconds
    layout.config.write_text(to_toml(config, stored))
    return collect(layout.root)


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


def missing_trials(out: str | Path) -> list[tuple[str, int]]:
    """The ``(loss, seed)`` trials of a run folder without metrics (not run, interrupted or
    failed), in grid order.

    Raises:
        FileNotFoundError: ``out`` is not a run folder.

    Example:
        >>> import tempfile
        >>> from lossbench.config import preset
        >>> folder = Path(tempfile.mkdtemp())
        >>> config = preset("quick")
        >>> config.losses, config.seeds = ["dice"], [0, 1]
        >>> text = to_toml(config, {"environment": {"lossbench": "0.1.0"}})
        >>> _ = (folder / "config.toml").write_text(text)
        >>> missing_trials(folder)
        [('dice', 0), ('dice', 1)]
    """
    layout = RunLayout(require_run(out))
    config = from_toml(layout.config)
    return [t for t in trial_grid(config) if not layout.trial(*t).metrics.exists()]


def collect(
    out: str | Path, losses: Sequence[str] | None = None, seeds: Sequence[int] | None = None
) -> Path:
    """Gather the finished trials' ``metrics.csv`` of a run folder into ``results.csv`` and
    ``results.parquet``, and the failed trials' reasons into ``failures.csv``; returns the CSV
    path. Trials without metrics are skipped (:func:`missing_trials` lists them). ``losses``
    and ``seeds`` default to the run's own. Each trial's table is checked as it is read
    (:func:`lossbench.results.check_table`).

    Raises:
        FileNotFoundError: ``out`` is not a run folder (when ``losses`` or ``seeds`` are read
            from its configuration).
        ValueError: no trial has finished (the failed ones are in ``failures.csv``), or a
            trial's table holds a value no metric can take.

    Example:
        >>> import tempfile
        >>> collect(tempfile.mkdtemp(), ["dice"], [0])
        Traceback (most recent call last):
        ...
        ValueError: no trial of ... has finished: 1 not run or interrupted
    """
    layout = RunLayout(Path(out))
    if losses is None or seeds is None:
        config = from_toml(RunLayout(require_run(out)).config)
        losses = resolve_losses(config.losses) if losses is None else losses
        seeds = config.seeds if seeds is None else seeds
    trials = [layout.trial(loss, seed) for seed in seeds for loss in losses]
    done = [t.metrics for t in trials if t.metrics.exists()]
    frames = [check_table(pd.read_csv(path, dtype={"case_id": str}), path) for path in done]
    failed = [t.failed for t in trials if t.failed.exists() and not t.metrics.exists()]
    failures = [json.loads(path.read_text()) for path in failed]
    if failures:
        _write_atomic(pd.DataFrame(failures), layout.failures)
    else:
        layout.failures.unlink(missing_ok=True)
    if not frames:
        why = f"{len(failures)} failed (why: {layout.failures}), " if failures else ""
        raise ValueError(
            f"no trial of {layout.root} has finished: {why}"
            f"{len(trials) - len(failures)} not run or interrupted"
        )
    table = pd.concat(frames, ignore_index=True)
    _write_atomic(table, layout.results_csv)
    write_atomic(layout.results_parquet, lambda path: table.to_parquet(path, index=False))
    return layout.results_csv
