"""The Ray executor on a local Ray with 2 CPUs (loopback only): the same numbers as the local
executor, a killed worker's trial resumed from its checkpoint, every node checked for the run
folder."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from lossbench.config import apply_overrides
from lossbench.executors import ray_executor
from lossbench.layout import RunLayout
from lossbench.results import load
from lossbench.run import prepare, run
from tests._helpers.runs import tiny

ray = pytest.importorskip("ray", reason='the ray extra is not installed (pip install -e ".[ray]")')
from lossbench.executors.ray import RunFolderNotSharedError, _check_shared, _look  # noqa: E402

TIMING = ["train_seconds"]


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """A Ray with 2 CPUs on this machine, shared by the module's tests."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_gives_the_local_executors_numbers(tmp_path: Path) -> None:
    config = apply_overrides(tiny(["dice", "ce", "hytver"], seeds=[0, 1]), ["train.threads=1"])
    run(config, tmp_path / "local", progress=False)
    run(config, tmp_path / "ray", progress=False, executor=ray_executor())
    local, distributed = load(tmp_path / "local"), load(tmp_path / "ray")
    assert len(local) == 3 * 2 * 3
    pd.testing.assert_frame_equal(local.drop(columns=TIMING), distributed.drop(columns=TIMING))
    environment = json.loads(RunLayout(tmp_path / "ray").trial("ce", 1).environment.read_text())
    assert environment["pid"] != os.getpid()  # ran in a Ray worker
    assert environment["threads"] == 1 and environment["deterministic_algorithms"]
    # finished trials are never recomputed, whatever executor resumes the run
    stamp = RunLayout(tmp_path / "ray").trial("dice", 0).metrics.stat().st_mtime_ns
    run(config, tmp_path / "ray", progress=False)
    assert RunLayout(tmp_path / "ray").trial("dice", 0).metrics.stat().st_mtime_ns == stamp


def test_ray_runs_variants_and_a_tuned_run_as_the_local_executor_does(tmp_path: Path) -> None:
    tuned = ["train.threads=1", "tune.budget=2", "tune.val_fraction=0.5"]
    config = apply_overrides(tiny(["dice", "hytver(beta=0.8)"]), tuned)
    run(config, tmp_path / "local", progress=False)
    run(config, tmp_path / "ray", progress=False, executor=ray_executor())
    local, distributed = load(tmp_path / "local"), load(tmp_path / "ray")
    assert sorted(local["loss"].unique()) == ["dice", "hytver(beta=0.8)"]
    pd.testing.assert_frame_equal(local.drop(columns=TIMING), distributed.drop(columns=TIMING))
    tuning = [
        pd.read_csv(folder / "tuning.csv") for folder in (tmp_path / "local", tmp_path / "ray")
    ]
    pd.testing.assert_frame_equal(*tuning)


def test_a_killed_worker_is_retried_and_its_trial_resumes(tmp_path: Path) -> None:
    sets = ["train.threads=1", "train.iterations=400", "train.checkpoint_every=10"]
    config = apply_overrides(tiny(["dice"]), sets)
    run(config, tmp_path / "whole", progress=False)
    trial = RunLayout(tmp_path / "ray").trial("dice", 0)
    killed: list[int] = []

    def kill_once_checkpointed() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if trial.checkpoint.exists() and trial.environment.exists():
                pid = json.loads(trial.environment.read_text())["pid"]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_once_checkpointed)
    killer.start()
    run(config, tmp_path / "ray", progress=False, executor=ray_executor())
    killer.join()
    assert killed, "the trial finished before the test could kill its worker"
    history = pd.read_csv(trial.history)
    assert sorted(history["attempt"].unique()) == [1, 2]
    resumed = history.loc[history["attempt"] == 2, "iteration"].min()
    assert 10 < resumed <= 400 and (resumed - 1) % 10 == 0  # from a checkpoint, not from 0
    assert json.loads(trial.environment.read_text())["pid"] != killed[0]
    pd.testing.assert_frame_equal(
        load(tmp_path / "whole").drop(columns=TIMING), load(tmp_path / "ray").drop(columns=TIMING)
    )


def test_every_node_must_see_the_run_folder(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    _check_shared(layout)  # this machine's single node sees it
    assert not layout.probes.exists()  # the markers are cleaned up
    folder = tmp_path / "probes-missing"
    folder.mkdir()
    answer = _look(str(folder), "token")  # what a node without the folder answers
    assert answer.startswith("!") and "No such file" in answer


def test_a_run_folder_the_nodes_cannot_see_is_refused(tmp_path: Path, monkeypatch) -> None:
    from lossbench.executors import ray as ray_module

    monkeypatch.setattr(ray_module, "_probe", _BlindProbe())
    with pytest.raises(RunFolderNotSharedError, match="storage every node sees"):
        _check_shared(RunLayout(tmp_path))


class _BlindProbe:
    """A probe task whose node answers as one that does not see the folder."""

    def options(self, **_: object) -> _BlindProbe:
        return self

    def remote(self, root: str, token: str) -> object:
        return ray.put(f"!No such file or directory: '{root}/.probes/driver'")


def test_a_failing_trial_is_reported_and_the_others_go_on(tmp_path: Path, capsys) -> None:
    config = apply_overrides(tiny(["dice", "ce"]), ["train.threads=1", "train.init=scratch"])
    prepare(config, tmp_path, progress=False)
    broken = RunLayout(tmp_path).trial("ce", 0)
    broken.folder.mkdir(parents=True)
    broken.checkpoint.write_bytes(b"not a checkpoint")
    run(config, tmp_path, progress=True, executor=ray_executor())
    assert load(tmp_path)["loss"].unique().tolist() == ["dice"]
    failures = pd.read_csv(RunLayout(tmp_path).failures)
    assert failures[["loss", "seed"]].values.tolist() == [["ce", 0]]
    assert "ce seed 0 failed:" in capsys.readouterr().err
    broken.checkpoint.unlink()  # the cause fixed, a rerun runs the missing trial only
    run(config, tmp_path, progress=False, executor=ray_executor())
    assert sorted(load(tmp_path)["loss"].unique()) == ["ce", "dice"]
    assert not RunLayout(tmp_path).failures.exists()


def test_the_cli_runs_on_ray_with_the_trials_resources(tmp_path: Path, capsys) -> None:
    from lossbench.cli import main
    from tests._helpers.runs import TINY

    args = ["run", "--losses", "dice,ce", "--device", "cpu", "--out", str(tmp_path)]
    args += [a for item in TINY for a in ("--set", item)]
    assert main([*args, "--executor", "ray", "--trial-cpus", "1"]) == 0
    assert "6 rows in" in capsys.readouterr().out
    config = (tmp_path / "config.toml").read_text()
    assert "threads = 1" in config  # --trial-cpus sets train.threads
    assert json.loads((tmp_path / "run.json").read_text())["threads"] == 1
    assert "trials" in json.loads((tmp_path / "timing.json").read_text())
    assert main([*args, "--executor", "ray", "--trial-cpus", "3"]) == 2  # another configuration
    assert "train.threads 1 there, 3 here" in capsys.readouterr().err
