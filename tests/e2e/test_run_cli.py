"""The command line end to end: ``run`` with its summary and timing, ``--dry-run``, Ctrl-C and
the rerun, a run's report and summary, and ``run --plan-only``, ``trial`` and ``collect``
giving the table of one ``run``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lossbench.cli import main
from lossbench.layout import RunLayout
from lossbench.results import load
from tests._helpers.runs import TINY


def _args(out: Path, *extra: str) -> list[str]:
    args = ["run", "--losses", "dice,ce", "--seeds", "0,1", "--device", "cpu", "--out", str(out)]
    return [*args, *[a for item in TINY for a in ("--set", item)], *extra]


def test_cli_run_and_dry_run(tmp_path: Path, capsys) -> None:
    args = ["run", "--losses", "dice", "--device", "cpu", "--out", str(tmp_path)]
    args += [a for item in TINY for a in ("--set", item)]
    assert main([*args, "--dry-run"]) == 0
    assert "1 losses x 1 seeds = 1 trials" in capsys.readouterr().out
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "3 rows in" in out and "one seed cannot rank losses" in out
    assert "wall time by phase: data" in out and "evaluation" in out and "report" in out
    timing = json.loads((tmp_path / "timing.json").read_text())
    assert set(timing) == {"data", "pretraining", "training", "evaluation", "report"}
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
        assert set(facts) >= {
            "higher_is_better",
            "mean",
            "ranking",
            "not_worse_than_best",
            "penalised",
        }
        assert sorted(facts["ranking"]) == sorted(facts["mean"]) == ["ce", "dice"]
    assert summary["protocol"]["pretrain_loss"] == "dice_ce"
    assert (tmp_path / "report.md").read_text().startswith("# lossbench report\n\n## Verdict")


def test_ctrl_c_then_rerun_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    sets = [*TINY, "train.iterations=200", "train.checkpoint_every=5"]
    args = ["run", "--losses", "dice", "--device", "cpu"]
    args += [a for item in sets for a in ("--set", item)]
    command = [sys.executable, "-m", "lossbench.cli", *args, "--out", str(tmp_path / "cut")]

    # the child gets the default SIGINT disposition whatever pytest was started from (a shell's
    # background job ignores SIGINT, and a child would inherit that and never see Ctrl-C)
    def default_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint
    )
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


def test_trial_and_collect_give_the_table_of_run(tmp_path: Path, capsys) -> None:
    assert main(_args(tmp_path / "whole")) == 0
    split = tmp_path / "split"
    assert main(_args(split, "--plan-only")) == 0
    assert "run its 4 trials" in capsys.readouterr().out
    assert RunLayout(split).pretrain.model.exists() and not RunLayout(split).trials.exists()
    assert main(["trial", str(split), "--list"]) == 0
    grid = capsys.readouterr().out.split("\n")[:4]
    assert grid == ["0 dice 0", "1 ce 0", "2 dice 1", "3 ce 1"]
    assert main(["trial", str(split), "--index", "0"]) == 0
    assert main(["trial", str(split), "--loss", "dice", "--seed", "1"]) == 0
    capsys.readouterr()
    assert main(["collect", str(split)]) == 1  # two trials are missing
    out = capsys.readouterr().out
    assert "6 rows in" in out and "2 trial(s) missing: ce seed 0, ce seed 1" in out
    for index in (1, 3):
        assert main(["trial", str(split), "--index", str(index)]) == 0
    assert main(["collect", str(split)]) == 0
    assert (split / "report.html").exists()
    whole, parts = load(tmp_path / "whole"), load(split)
    pd.testing.assert_frame_equal(
        whole.drop(columns="train_seconds"), parts.drop(columns="train_seconds")
    )
