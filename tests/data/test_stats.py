"""``lossbench data stats``: per-case lesion statistics beside MSSEG-2's, on every data layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lossbench.cli import main
from lossbench.data import Case, generate_case, load_dataset, synthesize
from lossbench.data.lesion_model import LOCATIONS
from lossbench.data.nnunet import export_nnunet
from lossbench.data.stats import MSSEG2, case_stats, dataset_stats, summary


def _case(label: np.ndarray, followup: np.ndarray | None = None) -> Case:
    image = np.ones(label.shape, np.float32) if followup is None else followup
    return Case("c", image, image, label.astype(np.uint8), None, (1.0, 1.0, 1.0), np.eye(4))


def test_lesions_are_counted_with_animas_rule() -> None:
    label = np.zeros((12, 12, 12), np.uint8)
    label[1:3, 1:3, 1:3] = 1  # 8 voxels: counted
    label[6, 6, 6:9] = 1  # 3 mm^3: at the limit, not counted
    label[9, 9, 9] = label[10, 10, 10] = 1  # diagonal neighbours: two 1-voxel components
    followup = np.ones(label.shape, np.float32)
    followup[1:3, 1:3, 1:3] = 1.5
    row = case_stats(_case(label, followup))
    assert row["n_lesions"] == 1 and row["volume_mm3"] == 8.0 and row["volumes_mm3"] == "8"
    assert row["contrast"] == pytest.approx(0.5) and row["contrast_over"] == "brain median"
    assert all(pd.isna(row[f"n_{name}"]) for name in LOCATIONS)  # no tissue map


def test_the_phantoms_rows_match_its_lesions(tmp_path: Path) -> None:
    synthesize(tmp_path, 3, seed=2, shape=(48, 56, 48))
    frame = dataset_stats(tmp_path)
    assert list(frame.columns[:2]) == ["case_id", "n_lesions"]
    for row, case in zip(frame.itertuples(), load_dataset(tmp_path), strict=True):
        assert row.case_id == case.case_id
        located = sum(getattr(row, f"n_{name}") for name in LOCATIONS)
        assert located == row.n_lesions  # the tissue map classes every lesion
        assert row.contrast_over == "white matter"
        if row.n_lesions:
            assert row.contrast > 0.1  # hyperintense at follow-up
    table = summary(frame)
    assert table.loc["cases", "this data"] == 3
    assert table.loc["lesion-free share", "MSSEG-2 training"] == pytest.approx(11 / 40)
    assert table.loc["lesions per positive case, median", "MSSEG-2 training"] == 3


def test_the_command_reads_a_phantom_and_an_nnunet_dataset(tmp_path: Path, capsys) -> None:
    phantom = tmp_path / "phantom"
    synthesize(phantom, 4, seed=1, shape=(32, 32, 32), phantom="blobs", lesion_free=0.25)
    out = tmp_path / "stats.csv"
    assert main(["data", "stats", str(phantom), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "MSSEG-2 training" in printed and "lesion-free share" in printed
    frame = pd.read_csv(out)
    assert list(frame.columns[:2]) == ["case_id", "n_lesions"] and len(frame) == 4
    dataset = tmp_path / "Dataset502_Stats"
    cases = [generate_case(i, (32, 32, 32), new_lesions=i > 0, phantom="blobs") for i in range(3)]
    export_nnunet(cases[:2], dataset, cases[2:])
    assert main(["data", "stats", str(dataset)]) == 0
    assert "0.333" in capsys.readouterr().out  # 1 of 3 cases (training and test) lesion-free
    assert main(["data", "stats", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_the_reference_numbers_are_msseg2s() -> None:
    assert MSSEG2["new lesions"] == 151
    assert MSSEG2["lesions per positive case, mean"] == pytest.approx(5.2, abs=0.01)
    assert MSSEG2["lesions per positive case, max"] == 32
