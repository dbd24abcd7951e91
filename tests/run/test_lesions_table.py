"""The per-lesion table and the calibration columns of a run: one row per lesion that lesion F1
counts, from the same pass; reliability bins that add up to the brain; probability maps saved
on request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from lossbench.data.msseg2 import read_volume
from lossbench.metrics import LESION_KEYS, calibration
from lossbench.report import build_report
from lossbench.results import load, load_rows
from lossbench.run import run
from tests._helpers.runs import tiny


def test_the_lesion_rows_are_the_lesions_lesion_f1_counted(tiny_run: Path) -> None:
    results, lesions = load(tiny_run), load_rows(tiny_run, "lesions")
    assert lesions is not None
    assert list(lesions.columns) == ["loss", "seed", "case_id", *LESION_KEYS]
    keys = ["loss", "seed", "case_id"]
    counts = lesions.groupby([*keys, "side"]).size().unstack(fill_value=0)
    confirmed = lesions[lesions["detected"]].groupby([*keys, "side"]).size().unstack(fill_value=0)
    table = results.set_index(keys)
    counts, confirmed = (f.reindex(table.index, fill_value=0) for f in (counts, confirmed))
    assert (counts["ref"] == table["n_ref_lesions"]).all()
    assert (counts["pred"] == table["n_pred_lesions"]).all()
    assert (counts["pred"] - confirmed["pred"] == table["n_fp_lesions"]).all()
    false = lesions[(lesions["side"] == "pred") & ~lesions["detected"]]
    volume = false.groupby(keys)["volume_mm3"].sum().reindex(table.index, fill_value=0.0)
    np.testing.assert_allclose(volume, table["fp_volume_mm3"])
    assert (lesions["location"] == "").all()  # the blob phantom has no tissue map
    assert (tiny_run / "lesions.parquet").is_file()


def test_reliability_bins_cover_the_brain_and_give_the_ece(tiny_run: Path) -> None:
    results, bins = load(tiny_run), load_rows(tiny_run, "reliability")
    assert bins is not None and set(bins["bin"]) == set(range(15))
    keys = ["loss", "seed", "case_id"]
    per_case = bins.groupby(keys)
    gap = (bins["prob_sum"] - bins["lesion_sum"]).abs().groupby([bins[k] for k in keys]).sum()
    ece = gap / per_case["count"].sum()
    np.testing.assert_allclose(ece.reindex(results.set_index(keys).index), results["ece"])
    assert results["ece"].between(0, 1).all() and results["brier"].between(0, 1).all()
    case = results["case_id"].iloc[0]
    brain = read_volume(tiny_run / "data" / "test" / case / "brain_mask.nii.gz")[0]
    voxels = per_case["count"].sum().xs(case, level="case_id")
    assert (voxels == int(brain.sum())).all()


def test_saved_probability_maps_give_the_run_its_calibration(tmp_path: Path) -> None:
    config = tiny(["dice"])
    config.eval.save_probabilities = True
    run(config, tmp_path, progress=False)
    results = load(tmp_path)
    trial = tmp_path / "trials" / "dice-seed0"
    for row in results.itertuples():
        image: Any = nib.load(trial / "probabilities" / f"{row.case_id}.nii.gz")
        assert image.get_data_dtype() == np.uint16  # 16 bits under the header's scaling
        prob = np.asarray(image.dataobj, dtype=np.float64)
        case = tmp_path / "data" / "test" / row.case_id
        label = read_volume(case / "ground_truth.nii.gz")[0] > 0
        brain = read_volume(case / "brain_mask.nii.gz")[0] > 0
        saved: Any = nib.load(trial / "predictions" / f"{row.case_id}.nii.gz")
        pred = np.asarray(saved.dataobj)
        assert ((prob > 0.5) == (pred > 0)).mean() > 0.999  # 16-bit rounding at the threshold
        mine = calibration(prob, label, brain)
        assert abs(mine.ece - row.ece) < 1e-4 and abs(mine.brier - row.brier) < 1e-4


def test_the_report_shows_sizes_and_calibration(tiny_run: Path) -> None:
    report = (tiny_run / "report.md").read_text()
    for title in ("Detection by lesion size", "False-positive lesions by size", "Calibration"):
        assert f"## {title}\n" in report
    assert "figures/sizes.png" in report and "figures/reliability.png" in report
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert set(summary["size_recall"]) == {"ce", "dice"}
    assert list(summary["size_recall"]["dice"]) == ["3-10", "10-30", "30-100", "100-300", ">300"]
    results = load(tiny_run)
    for loss in ("ce", "dice"):
        mean = results[results["loss"] == loss].groupby("case_id")["ece"].mean().mean()
        assert summary["calibration"][loss]["ece"] == pytest.approx(mean, abs=1e-6)


@pytest.mark.parametrize(
    ("table", "column", "value", "message"),
    [
        ("lesions", "volume_mm3", -2.0, "column volume_mm3: -2.0 is not above 0"),
        ("lesions", "side", "left", "column side: 'left' is not ref or pred"),
        ("reliability", "lesion_sum", 10**9, "column lesion_sum: 1000000000 is more than count"),
        ("reliability", "prob_sum", -1.0, r"column prob_sum: -1.0 is not in \[0, count\]"),
    ],
)
def test_a_damaged_table_is_refused_by_the_report_naming_the_row(
    tiny_run_copy: Path, table: str, column: str, value: object, message: str
) -> None:
    rows = load_rows(tiny_run_copy, table)
    assert rows is not None
    rows.loc[3, column] = value
    path = tiny_run_copy / ("lesions.parquet" if table == "lesions" else "reliability.csv")
    rows.to_parquet(path) if table == "lesions" else rows.to_csv(path, index=False)
    row = rows.iloc[3]
    where = f"row 4 \\(loss {row['loss']}, seed {row['seed']}, case {row['case_id']}\\)"
    with pytest.raises(ValueError, match=f"{path.name}: {where}, {message}"):
        build_report(tiny_run_copy)
