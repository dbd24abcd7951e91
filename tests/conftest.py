"""Shared test set-up: tests marked ``cuda`` run only where torch sees a CUDA device; every test
under ``tests/e2e`` is marked ``slow`` (``pytest -m "not slow"`` is the inner loop); and one tiny
run, trained once per test session, serves every test that only reads a run folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="needs CUDA: torch sees no CUDA device")
    for item in items:
        if E2E in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("cuda") is not None and not torch.cuda.is_available():
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of ``tests._helpers.runs.recorded()`` (dice and ce, seeds 0 and 1, 4 test
    cases), report included, made once per session. Read it, never change it: a test that
    changes a run folder takes :func:`tiny_run_copy`."""
    from lossbench.run import run
    from tests._helpers.runs import recorded

    folder = tmp_path_factory.mktemp("shared") / "tiny-run"
    run(recorded(), folder, progress=False)
    return folder


@pytest.fixture
def tiny_run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """A copy of the session's tiny run that the test may change."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run", ignore=shutil.ignore_patterns(".lock")))
