"""Docstring examples: names they may use without importing them, and a temporary folder of
their own that is removed when the example ends. Modules of an optional extra that is not
installed are not collected (their tests skip with the reason)."""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Iterator

import pytest
import torch
from _pytest.doctest import DoctestItem

collect_ignore = [] if importlib.util.find_spec("ray") else ["lossbench/executors/ray.py"]
if not importlib.util.find_spec("nnunetv2"):
    collect_ignore += [f"lossbench/integrations/{m}.py" for m in ("nnunet", "nnunet_benchmark")]


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict) -> None:
    doctest_namespace["torch"] = torch


@pytest.fixture(autouse=True)
def _doctest_tempdir(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every ``tempfile.mkdtemp()`` of a docstring example lands in one folder, deleted after it."""
    if not isinstance(request.node, DoctestItem):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="lossbench-doctest-") as folder:
        previous, tempfile.tempdir = tempfile.tempdir, folder
        try:
            yield
        finally:
            tempfile.tempdir = previous
