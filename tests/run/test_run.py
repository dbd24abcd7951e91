"""End to end on a tiny preset: the results table, determinism, resume, identical seeds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lossbench.cli import main
from lossbench.config import Config, apply_overrides, from_toml, preset, to_toml
from lossbench.metrics import METRIC_KEYS
from lossbench.models import VNet, count_parameters
from lossbench.results import load
from lossbench.run import resolve_device, resolve_losses, run

TINY = [
    "data.cases=3", "data.test_cases=3", "data.shape=28,28,28", "train.iterations=4",
    "train.pretrain_iterations=3", "train.patch_size=16", "train.checkpoint_every=2",
    "model.width=2", "model.levels=2",
]  # fmt: skip


def tiny(losses: list[str], **changes: object) -> Config:
    config = apply_overrides(preset("quick"), TINY)
    config.losses = losses
    config.device = "cpu"
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


COLUMNS = ["loss", "seed", "case_id", *METRIC_KEYS, "train_seconds"]


def test_results_table_rows_and_columns(tmp_path: Path) -> None:
    run(tiny(["dice", "hytver"], seeds=[0, 1]), tmp_path, progress=False)
    table = load(tmp_path)
    assert list(table.columns) == COLUMNS
    assert len(table) == 2 * 2 * 3
    assert table.groupby(["loss", "seed"]).size().tolist() == [3] * 4
    assert (tmp_path / "results.csv").exists() and (tmp_path / "config.toml").exists()
    assert "git_revision" in (tmp_path / "config.toml").read_text()
    assert len(list((tmp_path / "trials" / "dice-seed0" / "predictions").glob("*.nii.gz"))) == 3


def test_a_resampled_run_is_scored_and_saved_on_each_case_grid(tmp_path: Path) -> None:
    import nibabel as nib

    sets = ["data.spacing=0.8,0.9,1.0", "data.target_spacing=1.2,1.2,1.2"]
    run(apply_overrides(tiny(["dice"]), sets), tmp_path, progress=False)
    table = load(tmp_path)
    voxel = 0.8 * 0.9 * 1.0
    for row in table.itertuples():
        label = nib.load(tmp_path / "data" / "test" / row.case_id / "ground_truth.nii.gz")
        pred = nib.load(tmp_path / "trials/dice-seed0/predictions" / f"{row.case_id}.nii.gz")
        assert pred.shape == label.shape and np.allclose(pred.affine, label.affine)
        assert row.ref_volume_mm3 == pytest.approx(np.asarray(label.dataobj).sum() * voxel)
        assert row.pred_volume_mm3 == pytest.approx(np.asarray(pred.dataobj).sum() * voxel)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_run_trains_with_amp_and_checkpoints_its_loss_scale(tmp_path: Path) -> None:
    run(tiny(["dice", "hytver"], device="cuda"), tmp_path, progress=False)
    table = load(tmp_path)
    assert len(table) == 2 * 3 and table["dice"].between(0, 1).all()
    state = torch.load(tmp_path / "trials/dice-seed0/checkpoint.pt", weights_only=False)
    assert state["scaler"]["scale"] > 0  # GradScaler was enabled and its state saved


def test_same_command_twice_same_metrics(tmp_path: Path) -> None:
    run(tiny(["dice"]), tmp_path / "a", progress=False)
    run(tiny(["dice"]), tmp_path / "b", progress=False)
    a, b = load(tmp_path / "a"), load(tmp_path / "b")
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


def test_identical_seeds_mean_identical_batches_and_start(tmp_path: Path) -> None:
    run(tiny(["dice", "focal"]), tmp_path, progress=False)
    hashes = [pd.read_csv(tmp_path / "trials" / f"{n}-seed0" / "history.csv")["batch_hash"].tolist()
              for n in ("dice", "focal")]  # fmt: skip
    assert hashes[0] == hashes[1] and len(set(hashes[0])) == len(hashes[0])
    from lossbench.train import build_model

    a, b = build_model(tiny([]), 3), build_model(tiny([]), 3)
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_other_config_in_the_folder_is_refused(tmp_path: Path) -> None:
    run(tiny(["dice"]), tmp_path, progress=False)
    other = apply_overrides(tiny(["dice"]), ["train.iterations=5"])
    with pytest.raises(ValueError, match="different configuration; pass --resume .* or --force"):
        run(other, tmp_path, progress=False)
    run(other, tmp_path, resume=True, progress=False)  # continues with the stored config
    assert from_toml(tmp_path / "config.toml").train.iterations == 4
    run(other, tmp_path, force=True, progress=False)
    assert from_toml(tmp_path / "config.toml").train.iterations == 5


def test_non_finite_loss_is_recorded_and_the_run_goes_on(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lossbench.losses import registry

    class Exploding(torch.nn.Module):
        def forward(self, logits, target):  # type: ignore[no-untyped-def]
            return logits.mean() * float("nan")

    monkeypatch.setitem(registry._REGISTRY, "exploding", Exploding)
    run(tiny(["exploding", "dice"]), tmp_path, progress=False)
    failures = pd.read_csv(tmp_path / "failures.csv")
    assert failures["error"][0] == "loss 'exploding' became nan at iteration 1 (seed 0)"
    assert load(tmp_path)["loss"].unique().tolist() == ["dice"]


def test_init_from_a_state_dict_reports_what_was_skipped(tmp_path: Path) -> None:
    other = VNet(width=3, levels=2)  # a different width: only shape-matching keys load
    torch.save(other.state_dict(), tmp_path / "init.pt")
    config = apply_overrides(tiny(["dice"]), [f"train.init={tmp_path / 'init.pt'}",
                                             "train.freeze_encoder=true"])  # fmt: skip
    with pytest.warns(UserWarning, match="keep their seeded values"):
        run(config, tmp_path / "run", progress=False)
    skipped = (tmp_path / "run" / "trials" / "dice-seed0" / "init_skipped.txt").read_text()
    assert "stem.0.weight" in skipped


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="did you mean 'hytver'"):
        resolve_losses(["hytvre"])
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(
        ValueError, match="unknown key 'train.iteration'; did you mean 'iterations'"
    ):
        apply_overrides(preset("quick"), ["train.iteration=3"])
    with pytest.raises(ValueError, match="expected a int"):
        apply_overrides(preset("quick"), ["train.iterations=many"])


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("eval.overlap=1", r"eval.overlap must be in \[0, 1\), got 1.0"),
        ("eval.threshold=0", r"eval.threshold must be in \(0, 1\), got 0.0"),
        ("train.patch_size=0", "train.patch_size must be at least 1, got 0"),
        ("train.lr=-0.1", "train.lr must be positive, got -0.1"),
        ("data.target_spacing=1,1", "data.target_spacing must be empty or 3 positive sizes"),
        ("data.test_fraction=1", r"data.test_fraction must be in \(0, 1\), got 1.0"),
        ("train.pretrain_loss=dcie", "train.pretrain_loss: .*did you mean 'dice'"),
        ("train.init=nowhere.pt", "train.init must be 'pretrain', 'scratch' or a state-dict"),
        ("data.lesion_free=1.5", r"data.lesion_free must be in \[0, 1\], got 1.5"),
        ("report.nan_policy=drop", "report.nan_policy must be 'worst' or 'exclude', got 'drop'"),
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
    from lossbench.run import PAPER_SPLIT, _split

    for case_id in [*PAPER_SPLIT["train"], *PAPER_SPLIT["test"], "001"]:
        (tmp_path / case_id).mkdir()
        for key in ("baseline", "followup", "label"):  # the split only looks for the files
            (tmp_path / case_id / FILES[key]).touch()
    train, test = _split(tiny([], data=dataclasses.replace(tiny([]).data, source=str(tmp_path))),
                         tmp_path)  # fmt: skip
    assert train.case_ids == PAPER_SPLIT["train"] and test.case_ids == PAPER_SPLIT["test"]
    (tmp_path / "013" / FILES["label"]).unlink()  # a study case incomplete: a seeded split
    config = tiny([], data=dataclasses.replace(tiny([]).data, source=str(tmp_path), seed=3))
    train, test = _split(config, tmp_path)
    assert len(test) == round(0.2 * 40) and not set(train.case_ids) & set(test.case_ids)
    assert "013" not in train.case_ids + test.case_ids
    assert _split(config, tmp_path)[1].case_ids == test.case_ids  # the seed fixes it


def test_a_run_on_an_msseg2_folder(tmp_path: Path) -> None:
    from lossbench.data import generate_case, write_case

    for i, case_id in enumerate(["p01", "p02", "p03", "p04", "p05"]):
        case = generate_case(i, shape=(28, 28, 28))
        write_case(dataclasses.replace(case, case_id=case_id), tmp_path / "msseg2")
    data = dataclasses.replace(tiny([]).data, source=str(tmp_path / "msseg2"), test_fraction=0.4)
    run(tiny(["dice"], data=data), tmp_path / "run", progress=False)
    table = load(tmp_path / "run")
    assert len(table) == 2 and set(table["case_id"]) < {"p01", "p02", "p03", "p04", "p05"}
    assert not (tmp_path / "run" / "data").exists()  # a real folder is read, never copied


def test_cli_run_and_dry_run(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["run", "--losses", "dice", "--device", "cpu", "--out", str(tmp_path)]
    args += [a for item in TINY for a in ("--set", item)]
    assert main([*args, "--dry-run"]) == 0
    assert "1 losses x 1 seeds = 1 trials" in capsys.readouterr().out
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "3 rows in" in out and "one seed cannot rank losses" in out
    assert main(["run", "--losses", "dcie", "--out", str(tmp_path / "x")]) == 2


def test_an_end_to_end_run_writes_the_diagonal_and_the_summary(tmp_path: Path) -> None:
    import json

    args = ["run", "--losses", "dice,ce", "--seeds", "0,1", "--device", "cpu"]
    args += ["--out", str(tmp_path), *[a for item in TINY for a in ("--set", item)]]
    assert main(args) == 0
    table = load(tmp_path)
    assert table["diagonal_mm"].to_numpy() == pytest.approx(np.sqrt(3 * 28.0**2))  # 28^3 at 1 mm
    assert table.groupby(["loss", "seed"])["ref_empty"].sum().tolist() == [1] * 4  # 1 of 3
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["nan_policy"] == "worst" and summary["seeds"]["n"] == 2
    assert set(summary["seeds"]["kendall_w"]) >= {"dice", "hd95", "lesion_f1"}
    for metric in ("dice", "jaccard", "hd95", "asd", "precision", "recall", "lesion_f1", "nsd"):
        facts = summary["metrics"][metric]
        assert set(facts) >= {"higher_is_better", "mean", "ranking", "not_worse_than_best",
                              "penalised"}  # fmt: skip
        assert sorted(facts["ranking"]) == sorted(facts["mean"]) == ["ce", "dice"]
    assert summary["protocol"]["pretrain_loss"] == "dice_ce"
    assert (tmp_path / "report.md").read_text().startswith("# lossbench report\n\n## Verdict")


def test_config_round_trip(tmp_path: Path) -> None:
    config = apply_overrides(preset("paper"), ["data.source=/data/msseg2", "eval.overlap=0.25"])
    (tmp_path / "c.toml").write_text(to_toml(config, {"environment": {"torch": "x"}}))
    assert dataclasses.asdict(from_toml(tmp_path / "c.toml")) == dataclasses.asdict(config)


@pytest.mark.parametrize("size", [(7, 9, 11), (16, 16, 16), (5, 33, 8)])
def test_vnet_odd_input_sizes(size) -> None:  # type: ignore[no-untyped-def]
    net = VNet(width=2, levels=4)
    assert net(torch.zeros(1, 3, *size)).shape == (1, 1, *size)


def test_vnet_parameter_count_at_width_16() -> None:
    assert count_parameters(VNet(width=16, levels=5)) == 10_044_193


def test_sliding_window_blends_to_the_full_volume() -> None:
    from lossbench.infer import sliding_window

    class Identity(torch.nn.Module):
        def forward(self, x):  # type: ignore[no-untyped-def]
            return x[:, :1]

    image = np.random.default_rng(0).standard_normal((3, 13, 10, 17)).astype(np.float32)
    prob = sliding_window(Identity(), image, window=8, overlap=0.5)
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-image[0])), rtol=1e-5)


def test_ctrl_c_then_rerun_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    sets = [*TINY, "train.iterations=200", "train.checkpoint_every=5"]
    args = ["run", "--losses", "dice", "--device", "cpu"]
    args += [a for item in sets for a in ("--set", item)]
    command = [sys.executable, "-m", "lossbench.cli", *args, "--out", str(tmp_path / "cut")]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    checkpoint = tmp_path / "cut" / "trials" / "dice-seed0" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "rerun the same command to resume" in err
    assert not (tmp_path / "cut" / "trials" / "dice-seed0" / "metrics.csv").exists()
    assert main([*args, "--out", str(tmp_path / "cut")]) == 0  # resumes from the checkpoint
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    cut, whole = load(tmp_path / "cut"), load(tmp_path / "whole")
    pd.testing.assert_frame_equal(
        cut.drop(columns="train_seconds"), whole.drop(columns="train_seconds")
    )
