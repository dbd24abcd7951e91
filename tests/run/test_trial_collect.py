"""Schedulers without Ray: `run --plan-only`, one `trial` per (loss, seed), then `collect`, give
the table `run` gives; each trial records where it ran; `--executor ray` without the extra says
how to install it."""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path

import pandas as pd
import pytest

from lossbench.cli import main
from lossbench.executors import RAY_MISSING
from lossbench.layout import RunLayout
from lossbench.results import load
from lossbench.run import run
from lossbench.trial import run_trial
from tests._helpers.runs import TINY, tiny


def _args(out: Path, *extra: str) -> list[str]:
    args = ["run", "--losses", "dice,ce", "--seeds", "0,1", "--device", "cpu", "--out", str(out)]
    return [*args, *[a for item in TINY for a in ("--set", item)], *extra]


def test_trial_refuses_what_is_not_a_trial_of_a_prepared_run(tmp_path: Path, capsys) -> None:
    assert main(["trial", str(tmp_path / "none"), "--index", "0"]) == 2
    assert "none is not a lossbench run folder (no folder)" in capsys.readouterr().err
    assert main(_args(tmp_path, "--plan-only")) == 0
    assert main(["trial", str(tmp_path), "--index", "4"]) == 2
    assert "--index must be in 0..3, got 4" in capsys.readouterr().err
    assert main(["trial", str(tmp_path), "--loss", "focal", "--seed", "0"]) == 2
    assert "focal with seed 0 is not a trial of" in capsys.readouterr().err
    assert main(["trial", str(tmp_path), "--loss", "dice"]) == 2
    assert "give --loss and --seed, or --index" in capsys.readouterr().err


def test_a_trial_records_where_and_how_it_ran(tiny_run: Path, tmp_path: Path) -> None:
    trial = RunLayout(tiny_run).trial("dice", 0)
    environment = json.loads(trial.environment.read_text())
    assert environment["host"] == socket.gethostname()
    assert environment["device"] == "cpu" and environment["device_name"].startswith("cpu (")
    for key in (
        "torch",
        "cuda",
        "cudnn",
        "threads",
        "precision",
        "deterministic_algorithms",
        "cudnn_deterministic",
        "cudnn_benchmark",
    ):
        assert key in environment
    assert environment["deterministic_algorithms"] is True
    assert load(tiny_run)["device"].unique().tolist() == [environment["device_name"]]
    assert environment["threads"] == json.loads((tiny_run / "run.json").read_text())["threads"]
    from lossbench.report import build_report

    markdown, _ = build_report(tiny_run, out_dir=tmp_path / "report")
    assert f"| {environment['device_name']}" in Path(markdown).read_text()  # the cost table
    outcome = run_trial(tiny_run, "dice", 0)  # finished: left as it is
    assert outcome["status"] == "finished before"


def test_the_thread_count_is_part_of_the_configuration(tmp_path: Path) -> None:
    run(tiny(["dice"]), tmp_path, progress=False)
    from lossbench.config import from_toml

    assert from_toml(tmp_path / "config.toml").train.threads == 0  # as asked
    assert json.loads((tmp_path / "run.json").read_text())["threads"] >= 1  # resolved once
    config = tiny(["dice"])
    config.train.threads = 7
    with pytest.raises(ValueError, match="train.threads .* there, 7 here"):
        run(config, tmp_path, progress=False)


def test_the_ray_executor_without_ray_says_how_to_install_it(
    monkeypatch, capsys, tmp_path: Path
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    assert main(_args(tmp_path, "--executor", "ray")) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"lossbench run: {RAY_MISSING}" and "\n" not in err


def test_collect_refuses_an_impossible_trial_table_and_a_run_with_no_finished_trial(
    tmp_path: Path,
) -> None:
    from lossbench.run import collect
    from lossbench.trial import record_failure

    run(tiny(["dice", "ce"]), tmp_path, progress=False)
    metrics = RunLayout(tmp_path).trial("ce", 0).metrics
    table = pd.read_csv(metrics, dtype={"case_id": str})
    table.loc[1, "dice"] = 1.5
    table.to_csv(metrics, index=False)
    with pytest.raises(
        ValueError,
        match=rf"{metrics}: row 2 \(loss ce, seed 0, case case_001\), "
        r"column dice: 1.5 is not in \[0, 1\]",
    ):
        collect(tmp_path)
    for loss in ("dice", "ce"):
        RunLayout(tmp_path).trial(loss, 0).metrics.unlink()
        record_failure(tmp_path, loss, 0, f"loss '{loss}' became nan at iteration 1 (seed 0)")
    with pytest.raises(ValueError, match=r"has finished: 2 failed \(why: .*failures.csv\), 0 not"):
        collect(tmp_path)
    assert len(pd.read_csv(RunLayout(tmp_path).failures)) == 2


def test_loss_variants_run_as_losses_through_plan_trial_and_collect(tmp_path: Path, capsys) -> None:
    variants = "dice,hytver(gamma=0.3,alpha=0.5),hytver(beta=0.80)"
    args = ["run", "--losses", variants, "--device", "cpu", "--out", str(tmp_path)]
    assert main([*args, *[a for item in TINY for a in ("--set", item)], "--plan-only"]) == 0
    grid = ["dice", "hytver(alpha=0.5,gamma=0.3)", "hytver(beta=0.8)"]
    assert json.loads((tmp_path / "run.json").read_text())["losses"] == grid
    assert main(["trial", str(tmp_path), "--list"]) == 0
    listed = capsys.readouterr().out.strip().splitlines()[-3:]
    assert listed == [f"{i} {loss} 0" for i, loss in enumerate(grid)]
    for index in range(3):
        assert main(["trial", str(tmp_path), "--index", str(index)]) == 0
    # any spelling of a variant finds its trial
    assert main(["trial", str(tmp_path), "--loss", "hytver(beta=0.8000)", "--seed", "0"]) == 0
    assert "finished before" in capsys.readouterr().out
    assert main(["collect", str(tmp_path)]) == 0
    table = load(tmp_path)
    assert sorted(table["loss"].unique()) == sorted(grid)
    assert "hytver(alpha=0.5,gamma=0.3)" in (tmp_path / "report.md").read_text()
    # each variant trained with its own parameters: the same batches, other loss values
    one, two = (pd.read_csv(RunLayout(tmp_path).trial(n, 0).history)["loss"] for n in grid[1:])
    assert one.iloc[0] != two.iloc[0]


def test_a_bad_variant_stops_the_run_before_any_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = ["run", "--losses", "dice,hytver(beta=1.5)", "--device", "cpu", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--losses: loss variant 'hytver(beta=1.5)'" in err and "`beta` must be in [0, 1]" in err
    assert "parameters of hytver: alpha=0.7" in err
    assert not out.exists()
