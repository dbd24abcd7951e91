"""The anatomy phantom end to end: ``data synth --preview`` and a tiny run on it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lossbench.cli import main
from lossbench.data import load_dataset
from lossbench.data.locations import LOCATION_CLASSES
from tests._helpers.runs import TINY

ANATOMY = [s for s in TINY if not s.startswith(("data.phantom", "data.shape"))]
ANATOMY += ["data.phantom=anatomy", "data.shape=40,48,40", "data.cases=4", "data.test_cases=4"]


def test_synth_writes_the_anatomy_phantom_and_its_preview(tmp_path: Path, capsys) -> None:
    out = tmp_path / "phantom"
    argv = ["data", "synth", "--out", str(out), "--cases", "3", "--shape", "40", "48", "40"]
    assert main([*argv, "--preview"]) == 0
    assert (out / "preview.png").stat().st_size > 1000
    assert (out / "NOTICE.txt").read_text().startswith("These phantom cases derive from")
    assert [c.case_id for c in load_dataset(out)] == ["case_000", "case_001", "case_002"]
    assert all((out / c / "tissue.nii.gz").is_file() for c in ("case_000", "case_002"))
    blobs = tmp_path / "blobs"
    assert main(["data", "synth", "--out", str(blobs), "--cases", "2", "--phantom", "blobs"]) == 0
    assert not (blobs / "case_000" / "tissue.nii.gz").exists()
    capsys.readouterr()


def test_a_tiny_run_on_the_anatomy_phantom(tmp_path: Path) -> None:
    run = tmp_path / "run"
    sets = [a for s in ANATOMY for a in ("--set", s)]
    argv = ["run", "--out", str(run), "--losses", "dice,ce", "--device", "cpu", *sets]
    assert main(argv) == 0
    table = pd.read_csv(run / "results.csv")
    assert sorted(table["loss"].unique()) == ["ce", "dice"] and table["case_id"].nunique() == 4
    assert any(run.rglob("NOTICE.txt"))  # the template's notice beside its derivative
    assert (run / "report.md").is_file()
    assert (run / "figures" / "qualitative.png").is_file()
    lesions = pd.read_csv(run / "lesions.csv", keep_default_na=False)
    refs = lesions[lesions["side"] == "ref"]  # the tissue maps give every lesion its class
    assert len(refs) and set(refs["location"]) <= set(LOCATION_CLASSES)
