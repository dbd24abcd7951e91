"""`lossbench score`: any model's predictions scored exactly as a run scores its own; every bad
input named."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from lossbench.cli import main
from lossbench.layout import RunLayout
from lossbench.metrics import METRIC_KEYS, evaluate_case
from lossbench.results import load
from lossbench.run import run
from lossbench.score import DetectionRule, score
from tests._helpers.runs import tiny

SPACING = (0.5, 0.75, 0.75)
AFFINE = np.diag([*SPACING, 1.0])


def _save(path: Path, mask: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine), path)
    return path


def _masks(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ref = np.zeros((20, 18, 16), bool)
    pred = np.zeros_like(ref)
    for mask in (ref, pred):
        for _ in range(3):
            x, y, z = rng.integers(2, 12, 3)
            mask[x : x + 4, y : y + 3, z : z + 3] = True
    if seed == 2:
        ref[:] = False  # a lesion-free case
    return ref, pred


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    for seed in range(4):
        ref, pred = _masks(seed)
        _save(tmp_path / "ref" / f"p{seed:02d}.nii.gz", ref)
        _save(tmp_path / "pred" / f"p{seed:02d}.nii.gz", pred)
    return tmp_path / "ref", tmp_path / "pred"


def test_each_case_gets_exactly_what_evaluate_case_gives(pair: tuple[Path, Path]) -> None:
    ref, pred = pair
    rule = DetectionRule(min_lesion_mm3=2.0, connectivity=26)
    table = score(ref, {"model": pred}, rule=rule, workers=1, progress=False)
    assert table["method"].tolist() == ["model"] * 4
    assert list(table.columns) == ["method", "case_id", *METRIC_KEYS, "pred_missing"]
    for seed, row in zip(range(4), table.itertuples(), strict=True):
        ref_mask, pred_mask = _masks(seed)
        expected = evaluate_case(pred_mask, ref_mask, SPACING, min_lesion_mm3=2.0, connectivity=26)
        got = {k: getattr(row, k) for k in METRIC_KEYS}
        assert got == pytest.approx(expected, nan_ok=True)
        assert row.case_id == f"p{seed:02d}" and not row.pred_missing
    parallel = score(ref, {"model": pred}, rule=rule, workers=2, progress=False)
    pd.testing.assert_frame_equal(table, parallel)


def test_scoring_a_runs_saved_predictions_gives_its_table(tiny_run: Path) -> None:
    layout = RunLayout(tiny_run)
    methods = {loss: str(layout.trial(loss, 0).predictions) for loss in ("dice", "ce")}
    scored = score(layout.data("test"), methods, workers=1, progress=False)
    table = load(tiny_run)
    table = table[table["seed"] == 0]
    for loss in ("dice", "ce"):
        ours = table[table["loss"] == loss].reset_index(drop=True)[["case_id", *METRIC_KEYS]]
        theirs = scored[scored["method"] == loss].reset_index(drop=True)[["case_id", *METRIC_KEYS]]
        pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)


def test_missing_and_extra_cases_are_listed(pair: tuple[Path, Path]) -> None:
    ref, pred = pair
    (pred / "p01.nii.gz").unlink()
    _save(pred / "x99.nii.gz", np.zeros((20, 18, 16), bool))
    with pytest.raises(
        ValueError,
        match=r"method m: no prediction for 1 case\(s\): p01; 1 "
        r"prediction\(s\) without a reference case: x99",
    ):
        score(ref, {"m": pred}, workers=1, progress=False)
    (pred / "x99.nii.gz").unlink()
    with pytest.raises(ValueError, match="--allow-missing scores a missing prediction"):
        score(ref, {"m": pred}, workers=1, progress=False)
    table = score(ref, {"m": pred}, allow_missing=True, workers=1, progress=False)
    row = table.set_index("case_id").loc["p01"]
    assert row["pred_missing"] and row["pred_empty"] and row["dice"] == 0.0
    assert row["recall"] == 0.0 and row["lesion_recall"] == 0.0


def test_a_prediction_on_another_grid_is_named(pair: tuple[Path, Path]) -> None:
    ref, pred = pair
    _save(pred / "p01.nii.gz", np.zeros((20, 18, 15), bool))
    with pytest.raises(
        ValueError,
        match=r"case p01: the prediction .*p01.nii.gz \(shape "
        r"\(20, 18, 15\), .* reference .* \(shape \(20, 18, 16\)",
    ):
        score(ref, {"m": pred}, workers=1, progress=False)
    shifted = AFFINE.copy()
    shifted[0, 3] = 0.01
    _save(pred / "p01.nii.gz", np.zeros((20, 18, 16), bool), shifted)
    with pytest.raises(ValueError, match="case p01: .* is not on the grid of the reference"):
        score(ref, {"m": pred}, workers=1, progress=False)
    assert len(score(ref, {"m": pred}, affine_tolerance=0.02, workers=1, progress=False)) == 4


def test_multi_label_masks_need_a_label(tmp_path: Path) -> None:
    labels = np.zeros((12, 12, 12), np.uint8)
    labels[2:5, 2:5, 2:5] = 1  # another structure
    labels[6:9, 6:9, 6:9] = 2  # the lesion
    ref = _save(tmp_path / "ref" / "a.nii.gz", labels)
    _save(tmp_path / "pred" / "a.nii.gz", labels)
    with pytest.raises(
        ValueError,
        match=rf"{ref} is not a binary mask \(values 0, 1, 2\); "
        "choose the lesion label with --label K",
    ):
        score(ref.parent, {"m": tmp_path / "pred"}, workers=1, progress=False)
    table = score(ref.parent, {"m": tmp_path / "pred"}, label=2, workers=1, progress=False)
    assert table["dice"].item() == 1.0 and table["ref_volume_mm3"].item() == 27 * 0.5 * 0.75**2


def test_an_nnunet_labelsTs_folder_is_a_reference(tmp_path: Path) -> None:
    ref, pred = _masks(0)
    _save(tmp_path / "Dataset001_X" / "labelsTs" / "case_001.nii.gz", ref)
    _save(tmp_path / "pred" / "case_001.nii.gz", pred)
    table = score(
        tmp_path / "Dataset001_X", {"nnunet": tmp_path / "pred"}, workers=1, progress=False
    )
    assert table["case_id"].tolist() == ["case_001"]


def test_the_cli_writes_the_table_and_its_settings(
    pair: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    ref, pred = pair
    out = tmp_path / "scores"
    args = [
        "score",
        "--ref",
        str(ref),
        "--pred",
        f"a={pred}",
        "--pred",
        f"b={pred}",
        "--out",
        str(out),
        "--workers",
        "1",
        "--min-lesion-mm3",
        "2",
    ]
    assert main(args) == 0
    assert "means over the 3 cases with lesions" in capsys.readouterr().out
    table = load(out)
    assert table.groupby("method").size().to_dict() == {"a": 4, "b": 4}
    import json

    settings = json.loads((out / "score.json").read_text())
    assert settings["rule"]["min_lesion_mm3"] == 2.0 and settings["predictions"]["a"] == str(pred)
    assert main(["score", "--ref", str(ref), "--pred", "nofolder"]) == 2
    assert "--pred must be NAME=DIR, got 'nofolder'" in capsys.readouterr().err
    assert main(["score", "--ref", str(ref), "--pred", f"a={tmp_path / 'none'}"]) == 2
    assert "method a: no folder at" in capsys.readouterr().err
    assert main(["score", "--ref", str(ref), "--pred", f"a={pred}", "--baseline", "b"]) == 2
    assert "--baseline 'b' is not one of the methods: a" in capsys.readouterr().err


def test_two_methods_get_the_statistics_of_a_run_with_the_same_numbers(
    tmp_path: Path, capsys
) -> None:
    import json

    from lossbench.report import build_report

    run(tiny(["dice", "ce"]), tmp_path / "run", progress=False)
    build_report(tmp_path / "run", baseline="ce", n_resamples=200)
    layout = RunLayout(tmp_path / "run")
    args = [
        "score",
        "--ref",
        str(layout.data("test")),
        "--out",
        str(tmp_path / "scored"),
        "--workers",
        "1",
        "--baseline",
        "ce",
    ]
    for loss in ("dice", "ce"):
        args += ["--pred", f"{loss}={layout.trial(loss, 0).predictions}"]
    assert main(args) == 0
    assert "report:" in capsys.readouterr().out
    build_report(tmp_path / "scored", baseline="ce", n_resamples=200)
    ran = json.loads((tmp_path / "run" / "summary.json").read_text())
    scored = json.loads((tmp_path / "scored" / "summary.json").read_text())
    assert scored["unit"] == "method" and scored["methods"] == ran["losses"] == ["ce", "dice"]
    assert scored["metrics"] == ran["metrics"]
    report = (tmp_path / "scored" / "report.md").read_text()
    assert "Table 1: mean metrics per method" in report and "2 methods, 3 test cases" in report
    assert "|   method |" in report or "| method |" in report
    assert " loss" not in report.split("## Per-case metrics")[0].replace("lossbench", "")


def _float_mask(path: Path, data: np.ndarray, slope: float | None = None) -> Path:
    image = nib.Nifti1Image(data, AFFINE)
    if slope is not None:
        image.header.set_slope_inter(slope, 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)
    return path


@pytest.mark.parametrize("value", [0.5, 0.99])
def test_a_probability_map_is_refused_not_scored_as_empty(tmp_path: Path, value: float) -> None:
    ref, pred = _masks(0)
    _save(tmp_path / "ref" / "a.nii.gz", ref)
    bad = _float_mask(tmp_path / "pred" / "a.nii.gz", pred.astype(np.float32) * value)
    with pytest.raises(
        ValueError,
        match=rf"{bad} is not a label image: it holds the "
        rf"non-integer value\(s\) {value}; a probability map needs a threshold",
    ):
        score(tmp_path / "ref", {"m": tmp_path / "pred"}, workers=1, progress=False)
    _float_mask(bad, pred.astype(np.float32))  # a float mask of 0 and 1 is a mask
    table = score(tmp_path / "ref", {"m": tmp_path / "pred"}, workers=1, progress=False)
    assert table["dice"].item() == evaluate_case(pred, ref, SPACING)["dice"] > 0


def test_the_header_scaling_of_a_label_image_is_honoured_or_refused(tmp_path: Path) -> None:
    ref, pred = _masks(0)
    _save(tmp_path / "ref" / "a.nii.gz", ref)
    path = _float_mask(tmp_path / "pred" / "a.nii.gz", pred.astype(np.uint8) * 2, slope=0.5)
    table = score(tmp_path / "ref", {"m": tmp_path / "pred"}, workers=1, progress=False)
    assert table["dice"].item() == evaluate_case(pred, ref, SPACING)["dice"]  # 2 x 0.5 = 1
    _float_mask(path, pred.astype(np.uint8) * 2, slope=0.3)
    with pytest.raises(
        ValueError,
        match=r"non-integer value\(s\) 0.6 after the header's "
        r"scaling \(slope 0.3, intercept 0\)",
    ):
        score(tmp_path / "ref", {"m": tmp_path / "pred"}, workers=1, progress=False)


def test_a_label_that_no_reference_holds_is_refused(tmp_path: Path) -> None:
    labels = np.zeros((12, 12, 12), np.uint8)
    labels[6:9, 6:9, 6:9] = 2
    _save(tmp_path / "ref" / "a.nii.gz", labels)
    _save(tmp_path / "ref" / "b.nii.gz", np.zeros_like(labels))
    for case in ("a", "b"):
        _save(tmp_path / "pred" / f"{case}.nii.gz", labels)
    with pytest.raises(
        ValueError,
        match=r"--label 99 appears in none of the 2 reference masks "
        r"of .* \(the labels of a.nii.gz: 0, 2\)",
    ):
        score(tmp_path / "ref", {"m": tmp_path / "pred"}, label=99, workers=1, progress=False)
    table = score(tmp_path / "ref", {"m": tmp_path / "pred"}, label=2, workers=1, progress=False)
    assert table["dice"].tolist() == [1.0, 0.0]  # one case holds it: the label is right


def test_the_console_means_count_missing_distances_as_the_report_does(
    tmp_path: Path, capsys
) -> None:
    import json

    for case, seed in (("a", 0), ("b", 1)):
        ref, pred = _masks(seed)
        _save(tmp_path / "ref" / f"{case}.nii.gz", ref)
        _save(tmp_path / "pred" / f"{case}.nii.gz", pred if case == "a" else np.zeros_like(pred))
    out = tmp_path / "scores"
    args = [
        "score",
        "--ref",
        str(tmp_path / "ref"),
        "--pred",
        f"m={tmp_path / 'pred'}",
        "--workers",
        "1",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "(missing distances: worst, as in the report)" in printed
    summary = json.loads((out / "summary.json").read_text())
    hd95 = summary["metrics"]["hd95"]["mean"]["m"]
    table = load(out)
    worst = table["hd95"].fillna(table["diagonal_mm"]).mean()  # the empty prediction's diagonal
    assert hd95 == pytest.approx(worst)
    line = next(x for x in printed.splitlines() if x.startswith("m "))
    assert float(line.split()[2]) == pytest.approx(worst, abs=1e-3)  # dice, hd95, lesion_f1
    assert main(args) == 0  # rewriting its own earlier output is allowed


def test_scores_never_overwrite_what_is_not_lossbench_scores(
    pair: tuple[Path, Path], tmp_path: Path, tiny_run: Path
) -> None:
    from lossbench.score import check_score_folder, write_scores

    ref, pred = pair
    table = score(ref, {"m": pred}, workers=1, progress=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.csv").write_text("my,own\n")
    with pytest.raises(ValueError, match=r"mine holds results.csv and no lossbench scores"):
        write_scores(table, mine, DetectionRule(), {})
    assert (mine / "results.csv").read_text() == "my,own\n"
    with pytest.raises(ValueError, match="is the input"):
        check_score_folder(pred, inputs=[ref, pred])
    with pytest.raises(ValueError, match="holds a lossbench run"):
        write_scores(table, tiny_run, DetectionRule(), {})
    written = write_scores(table, tmp_path / "scores", DetectionRule(), {})
    assert write_scores(table, tmp_path / "scores", DetectionRule(), {}) == written
