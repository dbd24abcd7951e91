"""The tuned protocol: candidates, the validation split carved from the training cases, tuning
trials that never read a test case, the selection, resuming, and the report's sections."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from lossbench.cli import main
from lossbench.config import apply_overrides, preset, validate
from lossbench.inputs import read_run
from lossbench.layout import RunLayout
from lossbench.losses.space import search_space
from lossbench.tuning import all_trials, candidates, select, tuning_inputs
from tests._helpers.runs import TINY

TUNED = ["tune.budget=3", "tune.val_fraction=0.5", "tune.lr=0.001,0.01"]


def _args(out: Path, losses: str = "dice,hytver", *extra: str) -> list[str]:
    args = ["run", "--preset", "tuned", "--losses", losses, "--device", "cpu", "--out", str(out)]
    sets = [*TINY, *TUNED]
    return [*args, *[a for item in sets for a in ("--set", item)], *extra]


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tuned") / "run"
    assert main(_args(out)) == 0
    return out


def test_candidates_start_with_the_defaults_and_fill_the_budget() -> None:
    config = apply_overrides(preset("tuned"), ["tune.lr=0.001,0.01"])
    pool = candidates("hytver", config)
    assert pool[0].variant == "hytver" and pool[0].lr == config.train.lr and pool[0].default
    assert len(pool) == 8 and len({(c.variant, c.lr) for c in pool}) == 8
    assert not any(c.default for c in pool[1:])
    assert pool == candidates("hytver", config)  # seeded: the same every time
    other_seed = apply_overrides(preset("tuned"), ["tune.lr=0.001,0.01", "tune.seed=1"])
    assert candidates("hytver", other_seed)[1:] != pool[1:]
    ranges = search_space("hytver")
    for c in pool[1:]:  # inside the declared ranges, three significant digits
        params = dict(p.split("=") for p in c.variant[len("hytver(") : -1].split(","))
        for key, value in params.items():
            low, high = ranges[key]
            assert low <= float(value) <= high and len(value.lstrip("0.")) <= 3


def test_a_loss_with_fewer_configurations_uses_what_it_has() -> None:
    no_rates = apply_overrides(preset("tuned"), ["tune.lr="])
    assert [c.variant for c in candidates("dice", no_rates)] == ["dice"]
    config = apply_overrides(preset("tuned"), ["tune.lr=0.001,0.01"])
    assert sorted(c.lr for c in candidates("lovasz_hinge", config)) == [0.0003, 0.001, 0.01]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["tune.budget=0"], "tune.budget must be at least 1, got 0"),
        (["tune.val_fraction=0.01"], r"leaves 0 case\(s\) with lesions in validation and 17"),
        (["tune.lr=0,0.1"], r"tune.lr must be learning rates in \(0, 1\]"),
        (["tune.metric=hd95"], "tune.metric must be 'dice' or 'lesion_f1'"),
    ],
)
def test_bad_tuning_settings_stop_before_any_file(
    overrides: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(ValueError, match=message):
        validate(apply_overrides(preset("tuned"), overrides))
    out = tmp_path / "run"
    args = ["run", "--preset", "tuned", "--out", str(out), "--device", "cpu"]
    assert main([*args, *[a for o in overrides for a in ("--set", o)]]) == 2
    assert not out.exists()


def test_the_validation_split_is_carved_from_the_training_cases(tuned_run: Path) -> None:
    splits = json.loads((tuned_run / "splits.json").read_text())
    validation, train = set(splits["validation"]), set(splits["train"])
    assert validation and validation < train
    folders = splits["folders"]
    assert folders["validation"] == folders["train"] != folders["test"]
    inputs = tuning_inputs(read_run(tuned_run))
    split = inputs.resolved.split
    assert set(split.train.case_ids) == train - validation
    assert set(split.test.case_ids) == validation and split.validation is None
    # the inputs of a tuning trial hold no test case: both parts lie in the training folder
    test_root = read_run(tuned_run).resolved.split.test.root
    assert test_root not in {split.train.root, split.test.root}


def test_tuning_trials_are_scored_on_validation_cases_only(tuned_run: Path) -> None:
    run = read_run(tuned_run)
    assert run.resolved.split.validation is not None
    validation = set(run.resolved.split.validation.case_ids)
    tuning = [t for t in all_trials(run) if t[0].startswith("tuning/")]
    assert len(tuning) == 3 + 3  # dice: three learning rates; hytver: its budget of 3
    for name, seed in tuning:
        folder = run.layout.trial(name, seed)
        assert set(pd.read_csv(folder.metrics, dtype={"case_id": str})["case_id"]) == validation
        saved = {p.name.removesuffix(".nii.gz") for p in folder.predictions.glob("*.nii.gz")}
        assert saved <= validation


def test_tuning_trials_run_without_the_test_cases(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(_args(out, "dice", "--plan-only")) == 0
    shutil.rmtree(out / "data" / "test")  # a tuning trial that read a test case would fail
    run = read_run(out)
    for index, (name, _) in enumerate(all_trials(run)):
        if name.startswith("tuning/"):
            assert main(["trial", str(out), "--index", str(index)]) == 0


def test_the_selection_takes_the_best_and_a_tie_goes_to_the_defaults(tuned_run: Path) -> None:
    run = read_run(tuned_run)
    chosen, rows = select(run, "hytver")
    assert (
        rows["chosen"].sum() == 1 and rows.loc[rows["chosen"], "variant"].item() == chosen.variant
    )
    best = rows["dice"].max()
    assert rows.loc[rows["chosen"], "dice"].item() == best
    first_best = rows.index[rows["dice"] == best][0]  # equal scores: the earliest, defaults first
    assert chosen == candidates("hytver", run.config)[first_best]
    tried = pd.read_csv(tuned_run / "tuning.csv")
    assert set(tried["loss"]) == {"dice", "hytver"} and (tried["budget"] == 3).all()
    assert tried.groupby("loss")["chosen"].sum().tolist() == [1, 1]


def test_a_non_default_winner_is_what_the_final_trial_trains(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(_args(out, "hytver")) == 0
    run = read_run(out)
    pool = candidates("hytver", run.config)
    winner = run.layout.trial(pool[2].trial, run.config.tune.seed).metrics
    table = pd.read_csv(winner, dtype={"case_id": str})
    table.assign(dice=1.0).to_csv(winner, index=False)  # the third candidate now wins
    assert select(run, "hytver")[0] == pool[2]


def test_resuming_never_redoes_a_finished_tuning_trial(tuned_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tuned_run, copy)
    layout = RunLayout(copy)
    metrics = sorted((layout.trials / "tuning").glob("*/metrics.csv"))
    stamps = [p.stat().st_mtime_ns for p in metrics]
    layout.trial("hytver", 0).metrics.unlink()  # one final trial to redo
    assert main(["run", "--out", str(copy), "--resume"]) == 0
    assert [p.stat().st_mtime_ns for p in metrics] == stamps
    assert layout.trial("hytver", 0).metrics.exists()


def test_the_report_gives_the_tuning_and_the_comparison_with_defaults(
    tuned_run: Path, tmp_path: Path
) -> None:
    from lossbench.report import build_report

    default = tmp_path / "default"
    args = ["run", "--losses", "dice,hytver", "--device", "cpu", "--out", str(default)]
    assert main([*args, *[a for item in TINY for a in ("--set", item)]]) == 0
    markdown, _ = build_report(tuned_run, out_dir=tmp_path / "report", compare=[default])
    text = markdown.read_text()
    assert "## Tuning" in text and "budget of 3 configurations" in text
    assert f"## Tuned against default ({default})" in text
    assert "Holm-corrected over the 2 losses" in text
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert set(summary["tuning"]) == {"dice", "hytver"}
    assert summary["tuning"]["hytver"]["budget"] == 3


def test_a_range_the_loss_does_not_declare_stops_before_any_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from lossbench.losses import space

    monkeypatch.setitem(space.SEARCH_SPACES, "dice", {"alpha": (0.1, 0.9)})
    out = tmp_path / "run"
    assert main(["run", "--preset", "tuned", "--losses", "dice", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "dice: search range alpha=(0.1, 0.9) names no parameter of the loss" in err
    assert not out.exists()


def test_a_tuning_trial_stopped_by_a_non_finite_loss_drops_out(
    tuned_run: Path, tmp_path: Path
) -> None:
    from lossbench.trial import record_failure

    copy = tmp_path / "copy"
    shutil.copytree(tuned_run, copy)
    run = read_run(copy)
    pool = candidates("hytver", run.config)
    failed = pool[1]
    metrics = run.layout.trial(failed.trial, run.config.tune.seed).metrics
    table = pd.read_csv(metrics, dtype={"case_id": str})
    metrics.unlink()  # as if the trial had stopped: no metrics, a failed.json
    record_failure(copy, failed.trial, run.config.tune.seed, "loss became nan at iteration 2")
    for other in pool[2:]:  # and as if it had been the best
        worse = run.layout.trial(other.trial, run.config.tune.seed).metrics
        pd.read_csv(worse, dtype={"case_id": str}).assign(dice=0.0).to_csv(worse, index=False)
    assert table["dice"].notna().all()
    chosen, rows = select(run, "hytver")
    assert chosen != failed and rows.loc[1, "dice"] != rows.loc[1, "dice"]  # NaN: scored out
    layout = RunLayout(copy)
    layout.trial("hytver", 0).metrics.unlink()
    assert main(["run", "--out", str(copy), "--resume"]) == 0  # the failed one is not retried
    assert not metrics.exists()
