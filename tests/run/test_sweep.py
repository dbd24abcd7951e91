"""``lossbench sweep``: a grid over one loss's hyper-parameters as an ordinary run of its
variants, with a sensitivity section; a bad grid stops before any file is written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lossbench.cli import main
from tests._helpers.runs import TINY


def _sweep(out: Path, *grid: str) -> list[str]:
    args = ["sweep", "--loss", "hytver", *grid, "--device", "cpu", "--out", str(out)]
    return [*args, *[a for item in TINY for a in ("--set", item)]]


def test_a_sweep_runs_every_combination_and_reports_its_sensitivity(tmp_path: Path) -> None:
    assert main(_sweep(tmp_path, "--grid", "alpha=0.5,0.9", "--grid", "gamma=0.3,0.5")) == 0
    losses = json.loads((tmp_path / "run.json").read_text())["losses"]
    assert losses == [
        "hytver(alpha=0.5,gamma=0.3)",
        "hytver(alpha=0.5)",
        "hytver(alpha=0.9,gamma=0.3)",
        "hytver(alpha=0.9)",
    ]
    report = (tmp_path / "report.md").read_text()
    assert (
        "## Sensitivity of hytver" in report and "4 variants of hytver over alpha, gamma" in report
    )
    assert (tmp_path / "figures" / "sensitivity_hytver.png").exists()


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ((), "sweep of hytver: the grid is empty"),
        (("--grid", "alfa=0.5"), "unknown parameter 'alfa'; did you mean 'alpha'"),
        (("--grid", "alpha=0.5,1.5"), r"`alpha` must be in \[0, 1\], got 1.5"),
        (("--grid", "alpha=0.5", "--grid", "alpha=0.6"), "`alpha` is given twice"),
        (("--grid", "alpha="), "--grid must be PARAMETER=V1,V2,..., got 'alpha='"),
    ],
)
def test_a_bad_grid_stops_before_any_file(
    tmp_path: Path, capsys: pytest.CaptureFixture, grid: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "run"
    assert main(_sweep(out, *grid)) == 2
    err = capsys.readouterr().err
    assert err.startswith("lossbench sweep: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert not out.exists()
