"""Where the trials of a run execute: in this process (:class:`LocalExecutor`, the default) or
on a Ray cluster (:class:`lossbench.executors.ray.RayExecutor`, optional extra ``ray``).

An executor only decides *where* :func:`lossbench.trial.pretrain` and
:func:`lossbench.trial.run_trial` run; both are pure functions of the run folder, so the results
do not depend on the executor. Schedulers without Ray (SLURM arrays, shell loops) call the same
functions through ``lossbench trial`` and gather with ``lossbench collect``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, get_args

from tqdm import tqdm

from lossbench.config import Resolved
from lossbench.layout import RunLayout

__all__ = ["EXECUTORS", "RAY_MISSING", "Executor", "ExecutorName", "LocalExecutor", "ray_executor"]

ExecutorName = Literal["local", "ray"]
"""Where trials run: ``local`` (in this process) or ``ray`` (Ray tasks)."""
EXECUTORS: tuple[str, ...] = get_args(ExecutorName)

RAY_MISSING = 'the ray executor needs Ray: pip install -e ".[ray]" (or pip install "ray>=2.9")'
"""The one-line message when ``--executor ray`` is asked for without the ``ray`` extra."""


class Executor(Protocol):
    """Runs a prepared run folder's pretraining and pending trials."""

    in_process: ClassVar[bool]
    """True when trials run in the driver's process (the driver then prepares their cases)."""

    def session(
        self, layout: RunLayout, resolved: Resolved
    ) -> contextlib.AbstractContextManager[None]:
        """Held around the whole run (e.g. a Ray connection)."""
        ...

    def pretrain(self, layout: RunLayout, progress: bool) -> None:
        """Run :func:`lossbench.trial.pretrain` of the folder."""
        ...

    def trials(
        self, layout: RunLayout, pending: list[tuple[str, int]], progress: bool
    ) -> list[dict[str, Any]]:
        """Run :func:`lossbench.trial.run_trial` for each ``(loss, seed)``; their outcomes."""
        ...


@dataclass
class LocalExecutor:
    """One trial after another in this process, with the run's ``train.threads`` torch threads.

    Example:
        >>> LocalExecutor().in_process
        True
    """

    in_process: ClassVar[bool] = True

    @contextlib.contextmanager
    def session(self, layout: RunLayout, resolved: Resolved) -> Iterator[None]:
        """Nothing to set up."""
        yield

    def pretrain(self, layout: RunLayout, progress: bool) -> None:
        """The shared pretraining, here."""
        from lossbench.trial import pretrain

        pretrain(layout.root, progress=progress)

    def trials(
        self, layout: RunLayout, pending: list[tuple[str, int]], progress: bool
    ) -> list[dict[str, Any]]:
        """Each trial in turn, under one progress bar; a failed one (non-finite loss) is
        reported and the next one goes on."""
        from lossbench.trial import run_trial

        outcomes = []
        bar = tqdm(pending, desc="trials", unit="trial", disable=not progress)
        for loss, seed in bar:
            outcomes.append(run_trial(layout.root, loss, seed, progress=progress))
            if outcomes[-1]["status"] == "failed":
                tqdm.write(f"{loss} seed {seed} failed: {outcomes[-1]['error']}", file=sys.stderr)
        return outcomes


def ray_executor(
    address: str | None = None, trial_gpus: float | None = None, trial_cpus: int | None = None
) -> Executor:
    """A :class:`lossbench.executors.ray.RayExecutor`; see it for the arguments.

    Raises:
        ImportError: Ray is not installed (:data:`RAY_MISSING` says how to install it).
    """
    if importlib.util.find_spec("ray") is None:
        raise ImportError(RAY_MISSING)
    from lossbench.executors.ray import RayExecutor

    return RayExecutor(address, trial_gpus, trial_cpus)
