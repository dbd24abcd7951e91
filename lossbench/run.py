"""The grid of trials (losses x seeds), the run folder, resume, the results table and the report.

The run folder's layout is :class:`lossbench.layout.RunLayout`, and the folder is the only state
a run shares. :func:`prepare` writes what the user asked for (``config.toml``), what it resolved
to (``run.json``, ``splits.json``), the data and the shared pretraining; the trials
(:func:`lossbench.trial.run_trial`) then run on an executor (:mod:`lossbench.executors`),
:func:`collect` gathers them and :func:`write_report` builds the report. :func:`run` does all of
it, exactly as ``lossbench run`` does. A lock keeps a second driver out of a folder in use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lossbench._files import write_atomic, write_csv, write_json, write_text
from lossbench._folders import check_deletable, check_output, require_run
from lossbench._lock import RunFolderInUseError, hold
from lossbench.config import (
    Config,
    Resolved,
    from_toml,
    read_resolved,
    resolve,
    run_losses,
    to_toml,
    validate,
    write_resolved,
)
from lossbench.data.split import generate_phantom
from lossbench.executors import Executor, LocalExecutor
from lossbench.layout import RunLayout
from lossbench.results import check_table, read_rows
from lossbench.trial import prepared_cases, read_run, run_trial, trial_grid
from lossbench.tuning import tuning_grid, tuning_table

__all__ = [
    "ReportSkipped",
    "RunFolderInUseError",
    "check_run_folder",
    "collect",
    "missing_trials",
    "prepare",
    "record_timing",
    "run",
    "run_trial",
    "trial_grid",
    "write_report",
]


class ReportSkipped(UserWarning):
    """The results of a run cannot be reported (e.g. no test case has lesions); the message
    says why. The results table is written all the same."""


def check_run_folder(config: Config, out: str | Path, force: bool = False) -> list[Path]:
    """Check, before anything is created, that a run may use the folder ``out``; returns the
    paths that ``force`` deletes there (every existing path of :attr:`RunLayout.written`, nothing
    else; empty when ``out`` holds no run).

    A run goes into a new or empty folder, or into a run folder (lossbench's own ``run.json``).
    ``force`` empties only a run folder that is not the home folder, a filesystem root or the
    current directory, and holds neither the data folder nor lossbench itself. The output never
    overlaps the data folder.

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


def _changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key} {a!r} there, {b!r} here")
    return keys


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


def _records(layout: RunLayout, config: Config) -> Resolved:
    """The run's resolved record: read back from a folder that has one, else resolved here and
    written once (``run.json``, ``splits.json``), and the asked ``config.toml`` beside it."""
    if layout.run_json.is_file() and layout.splits.is_file() and layout.config.is_file():
        return read_resolved(layout)
    resolved = resolve(config, layout)
    write_resolved(resolved, layout)
    write_text(layout.config, to_toml(config))
    return resolved


class _Clock:
    """Wall seconds per phase of one invocation (data, pretraining, trials, report)."""

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
    config: Config,
    resolved: Resolved,
    layout: RunLayout,
    executor: Executor,
    progress: bool,
    clock: _Clock,
) -> None:
    with clock.phase("data"):
        if config.data.source == "synthetic":
            generate_phantom(config.data, resolved.split, layout.root, config.phantom, progress)
        if executor.in_process:  # the trials run in this process: prepare their cases once
            prepared_cases(read_run(layout.root), progress)
    with clock.phase("pretraining"):
        executor.pretrain(layout, progress)


def prepare(
    config: Config,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Create or check out the run folder ``out``: its configuration and resolved record, its
    data and the shared pretraining, everything the trials need; returns the ``config.toml``
    path. The trials can then run anywhere that sees the folder (``lossbench trial``,
    :func:`lossbench.trial.run_trial`).

    Raises the same errors as :func:`run`.
    """
    layout = RunLayout(Path(out))
    validate(config)
    check_run_folder(config, layout.root, force)
    with hold(layout.lock, layout.root):
        config = _take_out(layout, config, resume, force)
        clock = _Clock()
        _prepare_locked(config, _records(layout, config), layout, LocalExecutor(), progress, clock)
        record_timing(layout.root, clock.seconds)
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
    """Run every (loss, seed) trial of ``config`` into ``out``, gather the results and write the
    report, as ``lossbench run`` does; returns the results CSV path.

    Every value is validated (:func:`lossbench.config.validate`) and the folder checked
    (:func:`check_run_folder`) before the folder is created, changed or, with ``force``,
    emptied. ``executor`` decides where the trials run: in this process by default
    (:class:`lossbench.executors.LocalExecutor`), or on a Ray cluster
    (:class:`lossbench.executors.ray.RayExecutor`); the results do not depend on it.

    Raises:
        ValueError: a value :func:`lossbench.config.validate` refuses (unknown loss, device,
            value out of range), ``out`` holding another configuration or something that is not
            a run, or ``force`` where :func:`check_run_folder` refuses it.
        FileNotFoundError: the data folder holds no complete case, or ``train.init`` names no
            file.
        RunFolderInUseError: another run holds ``out`` (the message names its host and pid).

    Warns:
        ReportSkipped: the results cannot be reported (the reason is the message).
    """
    layout = RunLayout(Path(out))
    validate(config)
    executor = executor or LocalExecutor()
    check_run_folder(config, layout.root, force)
    with hold(layout.lock, layout.root):
        config = _take_out(layout, config, resume, force)
        _run_locked(config, layout, executor, progress)
        return collect(layout.root)


def _run_locked(config: Config, layout: RunLayout, executor: Executor, progress: bool) -> None:
    clock = _Clock()
    resolved = _records(layout, config)
    with executor.session(layout, resolved):
        _prepare_locked(config, resolved, layout, executor, progress, clock)
        tuning = tuning_grid(config, resolved.losses)  # a tuned run's, before its final trials
        with clock.phase("tuning"):
            executor.trials(layout, [t for t in tuning if not _finished(layout, t)], progress)
        grid = trial_grid(config, resolved.losses)
        pending = [t for t in grid if not layout.trial(*t).metrics.exists()]
        with clock.phase("trials"):
            outcomes = executor.trials(layout, pending, progress)
    if not tuning:
        del clock.seconds["tuning"]
    for name, key in (("training", "train_seconds"), ("evaluation", "eval_seconds")):
        clock.seconds[name] = round(sum(o.get(key, 0.0) for o in outcomes), 2)
    if executor.in_process:  # the trials' wall time is their training plus their evaluation
        del clock.seconds["trials"]
    record_timing(layout.root, clock.seconds)


def _finished(layout: RunLayout, trial: tuple[str, int]) -> bool:
    """A trial with metrics, or one stopped by a non-finite loss (a tuning trial's failure
    scores its configuration out of the selection; it is not retried)."""
    folder = layout.trial(*trial)
    return folder.metrics.exists() or folder.failed.exists()


def record_timing(out: str | Path, seconds: dict[str, float]) -> dict[str, float]:
    """Add the wall ``seconds`` of phases (e.g. ``{"report": 3.5}``) to a run's
    ``timing.json``, so a run resumed after an interruption keeps the seconds spent before it;
    returns the whole record (seconds per phase, summed over the commands that worked on it).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = record_timing(folder, {"data": 2.0})
        >>> record_timing(folder, {"data": 0.5, "report": 3.5})
        {'data': 2.5, 'report': 3.5}
    """
    layout = RunLayout(Path(out))
    timing = json.loads(layout.timing.read_text()) if layout.timing.is_file() else {}
    for phase, spent in seconds.items():
        timing[phase] = round(timing.get(phase, 0.0) + spent, 2)
    write_json(layout.timing, timing)
    return timing


def missing_trials(out: str | Path) -> list[tuple[str, int]]:
    """The ``(loss, seed)`` trials of a run folder without metrics (not run, interrupted or
    failed), in grid order.

    Raises:
        FileNotFoundError: ``out`` is not a run folder.
    """
    layout = RunLayout(require_run(out))
    grid = trial_grid(from_toml(layout.config), run_losses(layout))
    return [t for t in grid if not layout.trial(*t).metrics.exists()]


def _gather(layout: RunLayout, losses: Sequence[str], seeds: Sequence[int]) -> pd.DataFrame:
    """Every finished trial's table, checked; the failed trials' reasons into failures.csv."""
    trials = [layout.trial(loss, seed) for seed in seeds for loss in losses]
    done = [t.metrics for t in trials if t.metrics.exists()]
    frames = [check_table(pd.read_csv(path, dtype={"case_id": str}), path) for path in done]
    failed = [t.failed for t in trials if t.failed.exists() and not t.metrics.exists()]
    failures = [json.loads(path.read_text()) for path in failed]
    if failures:
        write_csv(layout.failures, pd.DataFrame(failures))
    else:
        layout.failures.unlink(missing_ok=True)
    if not frames:
        why = f"{len(failures)} failed (why: {layout.failures}), " if failures else ""
        raise ValueError(
            f"no trial of {layout.root} has finished: {why}"
            f"{len(trials) - len(failures)} not run or interrupted"
        )
    return pd.concat(frames, ignore_index=True)


def _gather_rows(layout: RunLayout, losses: Sequence[str], seeds: Sequence[int]) -> None:
    """The finished trials' per-lesion rows into ``lesions.parquet|csv`` and reliability bins
    into ``reliability.csv``; trials run before lossbench wrote them add nothing."""
    done = [layout.trial(loss, s) for s in seeds for loss in losses]
    done = [t for t in done if t.metrics.exists()]
    lesions = _concat([t.lesions for t in done], layout.lesions_csv)
    if lesions is not None:
        write_atomic(layout.lesions_parquet, lambda path: lesions.to_parquet(path, index=False))
    else:
        layout.lesions_parquet.unlink(missing_ok=True)
    _concat([t.reliability for t in done], layout.reliability)


def _concat(paths: list[Path], csv: Path) -> pd.DataFrame | None:
    """The tables at ``paths`` that exist, concatenated and written to ``csv``; None (and no
    ``csv``) where none exists."""
    frames = [read_rows(path) for path in paths if path.exists()]
    if not frames:
        csv.unlink(missing_ok=True)
        return None
    table = pd.concat(frames, ignore_index=True)
    write_csv(csv, table)
    return table


def collect(
    out: str | Path,
    losses: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    *,
    report: bool = True,
) -> Path:
    """Gather the finished trials' ``metrics.csv`` of a run folder into ``results.csv`` and
    ``results.parquet``, their per-lesion rows into ``lesions.csv`` and ``lesions.parquet``,
    their reliability bins into ``reliability.csv``, the failed trials' reasons into
    ``failures.csv``, and write the report
    (:func:`write_report`) unless ``report`` is false, as ``lossbench collect`` does; returns
    the CSV path. Trials without metrics are skipped (:func:`missing_trials` lists them).
    ``losses`` and ``seeds`` default to the run's own (a 0.1 run folder's too). Each trial's
    table is checked as it is read (:func:`lossbench.results.check_table`).

    Raises:
        FileNotFoundError: ``out`` is not a run folder (when ``losses`` or ``seeds`` are read
            from it).
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
        layout = RunLayout(require_run(out))
        losses = run_losses(layout) if losses is None else losses
        seeds = from_toml(layout.config).seeds if seeds is None else seeds
    table = _gather(layout, losses, seeds)
    _gather_rows(layout, losses, seeds)
    if layout.splits.is_file() and read_resolved(layout).split.validation is not None:
        write_csv(layout.tuning, tuning_table(read_run(layout.root)))
    write_csv(layout.results_csv, table)
    write_atomic(layout.results_parquet, lambda path: table.to_parquet(path, index=False))
    if report:
        write_report(layout.root)
    return layout.results_csv


def write_report(out: str | Path) -> tuple[Path, Path] | None:
    """Build a run folder's report from its results (:func:`lossbench.report.build_report`)
    and add the time it took to ``timing.json``; returns ``(report.md, report.html)``, or None
    with a :class:`ReportSkipped` warning when the results cannot be reported."""
    from lossbench.report import build_report

    start = time.perf_counter()
    try:
        paths = build_report(out)
    except ValueError as exc:  # e.g. no test case with lesions
        warnings.warn(str(exc), ReportSkipped, stacklevel=2)
        return None
    record_timing(out, {"report": time.perf_counter() - start})
    return paths
