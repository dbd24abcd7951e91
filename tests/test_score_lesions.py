"""``lossbench score``'s per-lesion table and its lesion-size analysis: the rows of a run's own
lesions for the run's saved predictions, the location classes of a reference folder with
tissue maps, and the report's size sections for any model's masks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from lossbench.cli import main
from lossbench.data.locations import LOCATION_CLASSES
from lossbench.data.synthetic import generate_case, write_case
from lossbench.results import load_rows
from lossbench.score import score_tables


def test_scoring_a_runs_predictions_gives_its_lesion_rows(tiny_run: Path) -> None:
    trial = tiny_run / "trials" / "dice-seed0" / "predictions"
    _, lesions = score_tables(tiny_run / "data" / "test", {"dice": trial}, progress=False)
    run = load_rows(tiny_run, "lesions")
    assert run is not None
    mine = run[(run["loss"] == "dice") & (run["seed"] == 0)].drop(columns=["loss", "seed"])
    pd.testing.assert_frame_equal(
        lesions.drop(columns="method").reset_index(drop=True), mine.reset_index(drop=True)
    )


def test_a_reference_with_tissue_maps_gives_locations_and_the_size_report(
    tmp_path: Path, capsys
) -> None:
    ref, pred = tmp_path / "ref", tmp_path / "pred"
    pred.mkdir()
    for seed in (0, 1, 2):
        case = generate_case(seed, new_lesions=True, case_id=f"c{seed}")
        write_case(case, ref)
        found = case.label.copy()
        found[:, :, ::2] = 0  # a prediction that breaks each lesion into slices
        nib.save(nib.Nifti1Image(found.astype(np.uint8), case.affine), pred / f"c{seed}.nii.gz")
    shutil.copytree(pred, tmp_path / "same")
    for seed in (0, 1, 2):
        truth = nib.load(ref / f"c{seed}" / "ground_truth.nii.gz")
        nib.save(truth, tmp_path / "same" / f"c{seed}.nii.gz")
    out = tmp_path / "scores"
    argv = ["score", "--ref", str(ref), "--out", str(out), "--workers", "1"]
    argv += ["--pred", f"same={tmp_path / 'same'}", "--pred", f"sliced={pred}"]
    assert main([*argv, "--size-bins", "3,30,300"]) == 0
    capsys.readouterr()
    lesions = load_rows(out, "lesions")
    assert lesions is not None and (out / "lesions.csv").is_file()
    refs = lesions[lesions["side"] == "ref"]
    assert set(refs["location"]) <= set(LOCATION_CLASSES) and len(refs) >= 3
    same = lesions[lesions["method"] == "same"]
    assert same["detected"].all()  # every lesion of a perfect prediction is a true positive
    report = (out / "report.md").read_text()
    assert "## Detection by lesion size" in report and "3-30 mm³" in report
    recall = json.loads((out / "summary.json").read_text())["size_recall"]
    assert {b["recall"] for b in recall["same"].values() if b["recall"] is not None} == {1.0}
    assert (out / "figures" / "sizes.png").is_file()


def test_bad_size_bins_are_one_line_and_exit_2(tiny_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert main(["report", str(tiny_run), "--out", str(out), "--size-bins", "10,3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "lossbench report: --size-bins: size bins must be increasing volume edges (mm^3) from 0, "
        "got [10.0, 3.0] (e.g. 3,10,30,100,300)"
    ]
    argv = ["score", "--ref", str(tiny_run / "data" / "test"), "--out", str(tmp_path / "s")]
    argv += ["--pred", f"d={tiny_run / 'trials' / 'dice-seed0' / 'predictions'}"]
    assert main([*argv, "--size-bins", "x"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("size bins must be numbers, got 'x' (e.g. 3,10,30,100,300)")
    )
    assert not out.exists() and not (tmp_path / "s").exists()
