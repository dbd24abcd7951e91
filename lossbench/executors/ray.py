"""Trials as Ray tasks: several per GPU, many GPUs, one node or a cluster.

The pretraining runs first as one task; then every pending trial is a task asking for
``trial_gpus`` GPUs and ``trial_cpus`` CPUs. A task whose worker dies (a killed process, a lost
node) is retried by Ray and resumes from the trial's last checkpoint. Tasks share nothing but
the run folder, which must lie on storage every node sees; the driver checks that before the
first task by having a task on each node read the driver's marker file and write its own.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from tqdm import tqdm

from lossbench.config import Resolved
from lossbench.layout import RunLayout
from lossbench.trial import pretrain, record_failure, run_trial

__all__ = ["RayExecutor", "RunFolderNotSharedError"]

_RETRIES = 3  # attempts after a worker's death; an exception raised by the trial is not retried


class RunFolderNotSharedError(FileNotFoundError):
    """A Ray node cannot read or write the run folder at the driver's path."""


def _look(root: str, token: str) -> str:
    """On one node: read the driver's marker, write this node's; returns the marker's name, or
    what went wrong (starting with ``!``)."""
    folder = Path(root) / ".probes"
    try:
        if (folder / "driver").read_text() != token:
            return "!a different folder lies at this path on this node"
        marker = folder / f"{socket.gethostname()}-{os.getpid()}"
        marker.write_text(token)
        return marker.name
    except OSError as exc:
        return f"!{exc}"


_probe = ray.remote(num_cpus=0)(_look)


@ray.remote
def _pretrain(root: str, cpus: int) -> None:
    pretrain(root, progress=False, cpus=cpus)


@ray.remote
def _trial(root: str, loss: str, seed: int, cpus: int) -> dict[str, Any]:
    return run_trial(root, loss, seed, progress=False, cpus=cpus)


@dataclass
class RayExecutor:
    """Run the trials as Ray tasks.

    Args:
        address: a running cluster to join (``"auto"`` or ``"HOST:PORT"``); None starts a local
            Ray with this machine's CPUs and GPUs (or uses the one this process already started).
        trial_gpus: GPUs per trial, fractions allowed (``0.25``: four trials share a GPU).
            Default: 1 when the cluster has GPUs and the run's device is not ``cpu``, else 0.
        trial_cpus: CPUs per trial. Default: 1 with a GPU; on the CPU, the run's
            ``train.threads``, since a trial's CPU thread count changes its numbers (set
            ``--trial-cpus`` to change both).
    """

    address: str | None = None
    trial_gpus: float | None = None
    trial_cpus: int | None = None
    in_process: ClassVar[bool] = False
    _resources: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    @contextlib.contextmanager
    def session(self, layout: RunLayout, resolved: Resolved) -> Iterator[None]:
        """Connect to (or start) Ray, check that every node sees the run folder, and fix the
        tasks' resources; a Ray started here is shut down at the end."""

        started = not ray.is_initialized()
        if started:
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        try:
            _check_shared(layout)
            has_gpus = ray.cluster_resources().get("GPU", 0) > 0
            gpus = self.trial_gpus
            if gpus is None:
                gpus = 1.0 if has_gpus and resolved.device != "cpu" else 0.0
            cpus = self.trial_cpus or (1 if gpus > 0 else resolved.threads)
            biggest = max(
                (n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]), default=0
            )
            if cpus > biggest:
                raise ValueError(
                    f"each trial asks for {cpus} CPUs (train.threads) but the largest Ray node "
                    f"has {biggest:g}; pass --trial-cpus (it also sets train.threads)"
                )
            self._resources = {"num_cpus": cpus, "num_gpus": gpus}
            yield
        finally:
            if started:
                ray.shutdown()

    def _cpus(self) -> int:
        return int(self._resources["num_cpus"])

    def pretrain(self, layout: RunLayout, progress: bool) -> None:
        """The shared pretraining as one task; the trials start after it."""
        task = _pretrain.options(**self._resources, max_retries=_RETRIES, retry_exceptions=False)
        ray.get(task.remote(str(layout.root.resolve()), self._cpus()))

    def trials(
        self, layout: RunLayout, pending: list[tuple[str, int]], progress: bool
    ) -> list[dict[str, Any]]:
        """All pending trials as tasks, under one progress bar (done / running / failed). A
        trial that fails is printed and recorded; the others go on."""
        task = _trial.options(**self._resources, max_retries=_RETRIES, retry_exceptions=False)
        root = str(layout.root.resolve())  # a worker's working folder is not the driver's
        refs = {task.remote(root, loss, seed, self._cpus()): (loss, seed) for loss, seed in pending}
        slots = _slots(self._resources)
        outcomes: list[dict[str, Any]] = []
        failed = 0
        bar = tqdm(total=len(refs), desc="trials", unit="trial", disable=not progress)
        waiting = list(refs)
        try:
            while waiting:
                bar.set_postfix(running=min(len(waiting), slots), failed=failed)
                done, waiting = ray.wait(waiting, num_returns=1)
                loss, seed = refs[done[0]]
                try:
                    outcomes.append(ray.get(done[0]))
                except (ray.exceptions.RayError, OSError) as exc:  # the trial raised, or died
                    error = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
                    outcomes.append(
                        {"loss": loss, "seed": seed, "status": "failed", "error": error}
                    )
                    record_failure(layout.root, loss, seed, error)
                if outcomes[-1]["status"] == "failed":
                    failed += 1
                    tqdm.write(
                        f"{loss} seed {seed} failed: {outcomes[-1]['error']}", file=sys.stderr
                    )
                bar.update(1)
            bar.set_postfix(running=0, failed=failed)
        except BaseException:
            for ref in waiting:  # an interrupted driver stops its tasks; checkpoints remain
                ray.cancel(ref, force=True)
            raise
        finally:
            bar.close()
        return outcomes


def _slots(resources: dict[str, float]) -> int:
    """How many trials the cluster can run at once with these per-trial resources."""
    total = ray.cluster_resources()
    counts = [int(total.get("CPU", 0) // resources["num_cpus"])] if resources["num_cpus"] else []
    if resources["num_gpus"]:
        counts.append(int(total.get("GPU", 0) / resources["num_gpus"] + 1e-9))
    return max(1, min(counts, default=1))


def _check_shared(layout: RunLayout) -> None:
    """Every alive node reads the driver's marker and writes its own, which the driver reads.

    Raises:
        RunFolderNotSharedError: naming each node that cannot see the folder.
    """
    token = uuid.uuid4().hex
    layout.probes.mkdir(parents=True, exist_ok=True)
    (layout.probes / "driver").write_text(token)
    nodes = [n for n in ray.nodes() if n["Alive"]]
    refs = [
        _probe.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(str(layout.root.resolve()), token)
        for n in nodes
    ]
    problems = []
    for node, answer in zip(nodes, ray.get(refs), strict=True):
        where = f"node {node['NodeManagerAddress']}"
        if answer.startswith("!"):
            problems.append(f"{where}: {answer[1:]}")
        elif not (layout.probes / answer).is_file():
            problems.append(f"{where}: the marker it wrote is not visible to the driver")
    for marker in layout.probes.iterdir():
        marker.unlink(missing_ok=True)
    layout.probes.rmdir()
    if problems:
        raise RunFolderNotSharedError(
            f"Ray workers cannot see the run folder {layout.root.resolve()} ("
            + "; ".join(problems)
            + "): a run folder must lie on storage every node sees (NFS, a shared disk), at the "
            "same path"
        )
