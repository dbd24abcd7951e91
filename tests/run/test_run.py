"""End to end on a tiny preset: the results table, determinism, resume, identical seeds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lossbench.cli import main
from lossbench.config import Config, apply_overrides, from_toml, validate
from lossbench.metrics import METRIC_KEYS
from lossbench.models import VNet
from lossbench.report import build_report
from lossbench.results import load
from lossbench.run import run
from tests._helpers.nifti import load_nifti
from tests._helpers.runs import recorded, tiny

COLUMNS = ["loss", "seed", "case_id", *METRIC_KEYS, "ece", "brier", "train_seconds", "device"]


def test_results_table_rows_and_columns(tiny_run: Path) -> None:
    table = load(tiny_run)
    assert list(table.columns) == COLUMNS
    assert len(table) == 2 * 2 * 4
    assert table.groupby(["loss", "seed"]).size().tolist() == [4] * 4
    assert (tiny_run / "results.csv").exists() and (tiny_run / "config.toml").exists()
    assert "git_revision" in (tiny_run / "run.json").read_text()
    assert "git_revision" not in (tiny_run / "config.toml").read_text()  # what was asked, only
    assert len(list((tiny_run / "trials" / "dice-seed0" / "predictions").glob("*.nii.gz"))) == 4


def test_a_resampled_run_is_scored_and_saved_on_each_case_grid(tmp_path: Path) -> None:
    sets = ["data.spacing=0.8,0.9,1.0", "data.target_spacing=1.2,1.2,1.2"]
    run(apply_overrides(tiny(["dice"]), sets), tmp_path, progress=False)
    table = load(tmp_path)
    voxel = 0.8 * 0.9 * 1.0
    for row in table.itertuples():
        label = load_nifti(tmp_path / "data" / "test" / row.case_id / "ground_truth.nii.gz")
        pred = load_nifti(tmp_path / "trials/dice-seed0/predictions" / f"{row.case_id}.nii.gz")
        assert pred.shape == label.shape and np.allclose(pred.affine, label.affine)
        assert row.ref_volume_mm3 == pytest.approx(np.asarray(label.dataobj).sum() * voxel)
        assert row.pred_volume_mm3 == pytest.approx(np.asarray(pred.dataobj).sum() * voxel)


@pytest.mark.cuda
def test_a_cuda_run_trains_with_amp_and_checkpoints_its_loss_scale(tmp_path: Path) -> None:
    config = apply_overrides(tiny(["dice", "hytver"], device="cuda"), ["train.precision=fp16"])
    run(config, tmp_path, progress=False)
    table = load(tmp_path)
    assert len(table) == 2 * 3 and table["dice"].between(0, 1).all()
    state = torch.load(tmp_path / "trials/dice-seed0/checkpoint.pt", weights_only=False)
    assert state["scaler"]["scale"] > 0  # GradScaler was enabled and its state saved


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "trials/dice-seed0/checkpoint.pt", weights_only=False)["model"]


def test_bf16_autocast_on_the_cpu_is_deterministic_recorded_and_not_fp32(tmp_path: Path) -> None:
    for name, precision in (("a", "bf16"), ("b", "bf16"), ("c", "fp32")):
        config = apply_overrides(tiny(["dice"]), [f"train.precision={precision}"])
        run(config, tmp_path / name, progress=False)
    a, b, c = (_weights(tmp_path / name) for name in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed, same precision: same numbers
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the forward pass did run in bf16
    stored = from_toml(tmp_path / "a" / "config.toml")
    assert stored.train.precision == "bf16"
    assert 'precision = "bf16"' in (tmp_path / "a" / "config.toml").read_text()
    auto = (tmp_path / "c" / "config.toml").read_text()
    assert 'precision = "fp32"' in auto


def test_fp16_autocast_scales_the_loss_and_checkpoints_the_scale(tmp_path: Path) -> None:
    run(apply_overrides(tiny(["dice"]), ["train.precision=fp16"]), tmp_path, progress=False)
    assert _weights(tmp_path)  # trained to the end
    state = torch.load(tmp_path / "trials/dice-seed0/checkpoint.pt", weights_only=False)
    assert state["scaler"]["scale"] > 0


def test_same_command_twice_same_metrics(tiny_run: Path, tmp_path: Path) -> None:
    run(recorded(), tmp_path, progress=False)
    a, b = load(tiny_run), load(tmp_path)
    pd.testing.assert_frame_equal(a.drop(columns="train_seconds"), b.drop(columns="train_seconds"))


def test_finished_trials_are_not_recomputed_and_interrupted_ones_resume(tmp_path: Path) -> None:
    config = tiny(["dice", "ce"])
    run(config, tmp_path, progress=False)
    first = tmp_path / "trials" / "dice-seed0" / "metrics.csv"
    stamp = first.stat().st_mtime_ns
    second = tmp_path / "trials" / "ce-seed0"
    history = pd.read_csv(second / "history.csv")
    (second / "metrics.csv").unlink()  # as if killed after training's last checkpoint
    run(config, tmp_path, progress=False)
    assert first.stat().st_mtime_ns == stamp
    assert pd.read_csv(second / "history.csv").equals(history)


def test_identical_seeds_mean_identical_batches_and_start(tiny_run: Path) -> None:
    for seed in (0, 1):
        hashes = [
            pd.read_csv(tiny_run / "trials" / f"{n}-seed{seed}" / "history.csv")["batch_hash"]
            for n in ("dice", "ce")
        ]
        assert hashes[0].tolist() == hashes[1].tolist()
        assert hashes[0].nunique() == len(hashes[0])
    from lossbench.train import build_model

    a, b = build_model(tiny([]), 3), build_model(tiny([]), 3)
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_other_config_in_the_folder_is_refused(tmp_path: Path) -> None:
    run(tiny(["dice"]), tmp_path, progress=False)
    other = apply_overrides(tiny(["dice"]), ["train.iterations=5"])
    refused = (
        r"different configuration \(train.iterations 4 there, 5 here\); resume it .*"
        r"\(force=True, --force\)"
    )
    with pytest.raises(ValueError, match=refused):
        run(other, tmp_path, progress=False)
    run(other, tmp_path, resume=True, progress=False)  # continues with the stored config
    assert from_toml(tmp_path / "config.toml").train.iterations == 4
    run(other, tmp_path, force=True, progress=False)
    assert from_toml(tmp_path / "config.toml").train.iterations == 5


def test_non_finite_loss_is_recorded_and_the_run_goes_on(tmp_path: Path, monkeypatch) -> None:
    from lossbench.losses import registry

    class Exploding(torch.nn.Module):
        def forward(self, logits, target):
            return logits.mean() * float("nan")

    monkeypatch.setitem(registry._REGISTRY, "exploding", Exploding)
    run(tiny(["exploding", "dice"]), tmp_path, progress=False)
    failures = pd.read_csv(tmp_path / "failures.csv")
    assert failures["error"][0] == "loss 'exploding' became nan at iteration 1 (seed 0)"
    assert load(tmp_path)["loss"].unique().tolist() == ["dice"]


def test_init_from_a_state_dict_reports_what_was_skipped(tmp_path: Path) -> None:
    other = VNet(width=3, levels=2)  # a different width: only shape-matching keys load
    torch.save(other.state_dict(), tmp_path / "init.pt")
    config = apply_overrides(
        tiny(["dice"]), [f"train.init={tmp_path / 'init.pt'}", "train.freeze_encoder=true"]
    )
    with pytest.warns(UserWarning, match="keep their seeded values"):
        run(config, tmp_path / "run", progress=False)
    skipped = (tmp_path / "run" / "trials" / "dice-seed0" / "init_skipped.txt").read_text()
    assert "stem.0.weight" in skipped


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("eval.overlap=1", r"eval.overlap must be in \[0, 1\), got 1.0"),
        ("eval.threshold=0", r"eval.threshold must be in \(0, 1\), got 0.0"),
        ("train.patch_size=0", "train.patch_size must be at least 1, got 0"),
        ("train.lr=-0.1", r"train.lr must be in \(0, 1\], got -0.1"),
        ("train.lr=1e300", r"train.lr must be in \(0, 1\], got 1e\+300"),
        ("train.pretrain_lr=nan", r"train.pretrain_lr must be in \(0, 1\], got nan"),
        ("seeds=-1", r"seeds must be integers in \[0, 4294967295\], got \[-1\]"),
        (f"seeds={2**64 + 1}", r"seeds must be integers in \[0, 4294967295\]"),
        ("seeds=0,0", r"seeds must be unique \(each seed is one trial\), got \[0, 0\]"),
        ("data.seed=-3", r"data.seed must be an integer in \[0, 4294967295\], got -3"),
        ("data.spacing=1,inf,1", "data.spacing must be 3 positive sizes"),
        ("data.target_spacing=1,1", "data.target_spacing must be empty or 3 positive sizes"),
        ("data.test_fraction=1", r"data.test_fraction must be in \(0, 1\), got 1.0"),
        ("train.pretrain_loss=dcie", "train.pretrain_loss: .*did you mean 'dice'"),
        ("train.init=nowhere.pt", "train.init must be 'pretrain', 'scratch' or a state-dict"),
        ("data.lesion_free=1.5", r"data.lesion_free must be in \[0, 1\], got 1.5"),
        ("report.nan_policy=drop", "report.nan_policy must be 'worst' or 'exclude', got 'drop'"),
        ("report.size_bins=10,3", r"report.size_bins must be increasing volume edges .mm\^3."),
        ("report.size_bins=-1,3", r"report.size_bins must be increasing .* got \[-1.0, 3.0\]"),
        ("eval.window=-8", "eval.window must be 0 .the patch size. or a positive edge, got -8"),
        ("train.precision=fp64", "train.precision must be 'auto', 'fp32', 'bf16' or 'fp16', got"),
    ],
)
def test_bad_values_are_refused_before_any_work(tmp_path: Path, setting: str, message: str) -> None:
    config = apply_overrides(tiny(["dice"]), [setting])
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        run(config, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_not_an_msseg2_folder(tmp_path: Path) -> None:
    (tmp_path / "case1").mkdir()
    with pytest.raises(FileNotFoundError, match="expected ROOT/<case_id>/ with those files"):
        run(
            tiny(["dice"], data=dataclasses.replace(tiny([]).data, source=str(tmp_path))),
            tmp_path / "out",
            progress=False,
        )


def test_an_msseg2_folder_gets_the_study_split_when_its_ids_match(tmp_path: Path) -> None:
    from lossbench.data.msseg2 import FILES
    from lossbench.data.split import PAPER_SPLIT, split_cases

    def split(config: Config) -> tuple[list[str], list[str]]:
        parts = split_cases(config.data, (Path("data/train"), Path("data/test")))
        return list(parts.train.case_ids), list(parts.test.case_ids)

    for case_id in [*PAPER_SPLIT["train"], *PAPER_SPLIT["test"], "001"]:
        (tmp_path / case_id).mkdir()
        for key in ("baseline", "followup", "label"):  # the split only looks for the files
            (tmp_path / case_id / FILES[key]).touch()
    config = tiny([], data=dataclasses.replace(tiny([]).data, source=str(tmp_path)))
    assert split(config) == (PAPER_SPLIT["train"], PAPER_SPLIT["test"])
    (tmp_path / "013").rename(tmp_path / ".013")  # a study case missing: a seeded split
    config = tiny([], data=dataclasses.replace(tiny([]).data, source=str(tmp_path), seed=3))
    train, test = split(config)
    assert len(test) == round(0.2 * 40) and not set(train) & set(test)
    assert "013" not in train + test
    assert split(config)[1] == test  # the seed fixes it
    (tmp_path / ".013").rename(tmp_path / "013")
    (tmp_path / "013" / FILES["label"]).unlink()  # an incomplete case is named, never skipped
    with pytest.raises(FileNotFoundError, match=f"case 013 lacks {FILES['label']}"):
        validate(dataclasses.replace(config, losses=["dice"]))
    with pytest.raises(FileNotFoundError, match=f"case 013 lacks {FILES['label']}"):
        split(config)


def test_a_run_on_an_msseg2_folder(tmp_path: Path) -> None:
    from lossbench.data import generate_case, write_case

    for i, case_id in enumerate(["p01", "p02", "p03", "p04", "p05"]):
        case = generate_case(i, shape=(28, 28, 28), new_lesions=True, phantom="blobs")
        write_case(dataclasses.replace(case, case_id=case_id), tmp_path / "msseg2")
    data = dataclasses.replace(tiny([]).data, source=str(tmp_path / "msseg2"), test_fraction=0.4)
    run(tiny(["dice", "ce"], data=data), tmp_path / "run", progress=False)
    table = load(tmp_path / "run")
    assert len(table) == 4 and set(table["case_id"]) < {"p01", "p02", "p03", "p04", "p05"}
    assert not (tmp_path / "run" / "data").exists()  # a real folder is read, never copied
    # the report finds the test cases where config.toml says they are, even from a moved folder
    (tmp_path / "run").rename(tmp_path / "moved")
    markdown, _ = build_report(tmp_path / "moved", n_resamples=50, show=["ce"])
    assert "figures/qualitative.png" in markdown.read_text()
    with pytest.raises(ValueError, match="show: focal not in the results"):
        build_report(tmp_path / "moved", n_resamples=50, show=["focal"])


def test_the_qualitative_figure_of_a_moved_synthetic_run(tmp_path: Path) -> None:
    run(
        tiny(["dice", "ce"], data=dataclasses.replace(tiny([]).data, test_cases=4)),
        tmp_path / "run",
        progress=False,
    )
    (tmp_path / "run").rename(tmp_path / "moved")
    markdown, _ = build_report(tmp_path / "moved", n_resamples=50)
    assert "figures/qualitative.png" in markdown.read_text()


def test_a_refused_config_deletes_and_creates_nothing(tmp_path: Path) -> None:
    run(tiny(["dice"]), tmp_path, progress=False)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for bad in (["data.shape=20,20,20"], ["model.levels=1"], ["data.source=/no/such/folder"]):
        with pytest.raises((ValueError, FileNotFoundError)):
            run(apply_overrides(tiny(["dice"]), bad), tmp_path, force=True, progress=False)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_the_cli_names_its_flags(tmp_path: Path, capsys) -> None:
    out = tmp_path / "x"
    assert main(["run", "--data", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "--data must be 'synthetic' or a dataset folder" in capsys.readouterr().err
    assert main(["run", "--losses", "dcie", "--out", str(out)]) == 2
    assert "--losses: unknown loss 'dcie'" in capsys.readouterr().err
    assert main(["run", "--set", "train.lr=0", "--out", str(out)]) == 2
    assert "--set train.lr must be in (0, 1], got 0.0" in capsys.readouterr().err
    assert not out.exists()
