"""Behaviour unchanged across the 0.2 restructuring: the same seeds give, column for column, the
results table of a run folder written before it (``tests/fixtures/run-0.1``, in lossbench 0.1's
layout); such a folder is still read by ``report``, ``compare`` and ``collect``; and the Python
API and the command line make the same run folder."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from lossbench.cli import main
from tests._helpers.runs import RECORDED

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run-0.1"
RECORD = json.loads((FIXTURE.parent / "run-0.1.json").read_text())


def _table(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "results.csv", dtype={"case_id": str})


def _close(a: Any, b: Any, where: str = "") -> None:
    """Equal JSON values, floats to a relative 1e-12 (a mean's last bit may differ)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for key in a:
            _close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15), (where, a, b)
    else:
        assert a == b, (where, a, b)


def _copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "run-0.1"))


def test_the_same_seeds_give_the_table_of_the_0_1_run_column_for_column(tiny_run: Path) -> None:
    here = torch.backends.cpu.get_cpu_capability()
    if here != RECORD["cpu_capability"] or torch.__version__ != RECORD["torch"]:
        pytest.skip(
            f"the fixture was trained with torch {RECORD['torch']} on a {RECORD['cpu_capability']}"
            f" CPU; this is torch {torch.__version__} on {here}, whose float kernels differ"
        )
    old, new = _table(FIXTURE), _table(tiny_run)
    added = ["ece", "brier"]  # the calibration columns, new since 0.1
    assert [c for c in new.columns if c not in added] == list(old.columns)
    assert new[added].notna().all().all()
    for column in old.columns.drop("train_seconds"):
        pd.testing.assert_series_equal(new[column], old[column], check_exact=True)


def test_a_0_1_folder_is_reported_with_the_same_summary(tmp_path: Path, capsys) -> None:
    assert main(["report", str(FIXTURE), "--out", str(tmp_path / "report")]) == 0
    _close(
        json.loads((FIXTURE / "summary.json").read_text()),
        json.loads((tmp_path / "report" / "summary.json").read_text()),
    )
    text = (tmp_path / "report" / "report.md").read_text()
    assert text.startswith("# lossbench report\n\n## Verdict") and "Table 5: cost" in text


def test_a_0_1_folder_is_compared(tmp_path: Path, tiny_run: Path, capsys) -> None:
    assert main(["compare", str(FIXTURE), str(tiny_run), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "# Rank agreement between runs" in out and "tau" in out
    protocol = json.loads((tmp_path / "cmp" / "compare.json").read_text())["runs"][0]["protocol"]
    assert protocol.startswith("every loss fine-tuned for 12 iterations")


def test_a_0_1_folder_is_collected(tmp_path: Path, capsys) -> None:
    folder = _copy(tmp_path)
    for name in ("results.csv", "results.parquet", "summary.json", "report.md"):
        (folder / name).unlink()
    assert main(["collect", str(folder)]) == 0
    assert "16 rows in" in capsys.readouterr().out
    pd.testing.assert_frame_equal(_table(folder), _table(FIXTURE))
    _close(
        json.loads((FIXTURE / "summary.json").read_text()),
        json.loads((folder / "summary.json").read_text()),
    )


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name != ".lock")


def test_the_python_api_and_the_command_line_make_the_same_folder(
    tiny_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cli"
    args = ["run", "--losses", "dice,ce", "--seeds", "0,1", "--device", "cpu", "--out", str(out)]
    assert main([*args, *[a for item in RECORDED for a in ("--set", item)]]) == 0
    assert _files(out) == _files(tiny_run)
    drop = ["train_seconds"]
    pd.testing.assert_frame_equal(
        _table(out).drop(columns=drop), _table(tiny_run).drop(columns=drop)
    )
    for name in ("config.toml", "splits.json", "summary.json"):
        assert (out / name).read_text() == (tiny_run / name).read_text(), name
    cost = "## Table 5: cost"  # training seconds: the one thing a rerun changes
    reports = [(f / "report.md").read_text().split(cost)[0] for f in (out, tiny_run)]
    assert reports[0] == reports[1] and len(reports[0]) > 1000
    api, cli = (json.loads((f / "run.json").read_text()) for f in (tiny_run, out))
    api["environment"].pop("created"), cli["environment"].pop("created")
    assert api == cli
    assert set(json.loads((out / "timing.json").read_text())) == {
        "data",
        "pretraining",
        "training",
        "evaluation",
        "report",
    }


def test_an_interrupted_blob_run_of_0_2_resumes_on_its_own_phantom(tmp_path: Path) -> None:
    # a 0.2.0 run folder: its config.toml has no data.phantom, data.centre or [phantom] table
    from tests._helpers.runs import TINY

    out = tmp_path / "run"
    sets = [a for s in TINY for a in ("--set", s)]
    assert main(["run", "--out", str(out), "--losses", "dice", "--device", "cpu", *sets]) == 0
    before = _table(out)
    text = (out / "config.toml").read_text().split("\n[phantom]\n")[0]
    lines = [ln for ln in text.splitlines() if not ln.startswith(("phantom =", "centre ="))]
    (out / "config.toml").write_text("\n".join(lines) + "\n")
    shutil.rmtree(out / "trials" / "dice-seed0")  # interrupted before its only trial finished
    (out / "results.csv").unlink()
    assert main(["run", "--out", str(out), "--resume"]) == 0
    pd.testing.assert_frame_equal(
        _table(out).drop(columns="train_seconds"), before.drop(columns="train_seconds")
    )
