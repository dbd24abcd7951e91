"""What a run may do with its folder: write into a new, empty or run folder, and with --force
delete only the paths a run writes, never a folder that holds anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

import lossbench
from lossbench._folders import check_deletable, folder_kind
from lossbench.cli import main
from lossbench.config import apply_overrides
from lossbench.layout import RunLayout
from lossbench.run import check_run_folder, run
from tests._helpers.runs import TINY, tiny

ARGS = ["run", "--losses", "dice", "--device", "cpu", *[a for s in TINY for a in ("--set", s)]]


def test_force_deletes_the_runs_own_paths_and_nothing_else(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main([*ARGS, "--out", str(out)]) == 0
    (out / "notes.txt").write_text("my notes on this run\n")  # the user's own, beside the run
    (out / "analysis").mkdir()
    (out / "analysis" / "plot.py").write_text("import matplotlib\n")
    written = {p.name for p in RunLayout(out).written if p.exists()}
    assert written >= {"config.toml", "run.json", "splits.json", "timing.json", "data", "trials"}
    assert written >= {"pretrain", "results.csv", "report.md"}
    capsys.readouterr()
    assert main([*ARGS, "--out", str(out), "--dry-run"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    records = "config.toml, run.json, splits.json, timing.json, data/"
    assert line.startswith(f"{out} holds a run: --force would delete {records}")
    assert line.endswith("(nothing else)") and "notes.txt" not in line
    trial = RunLayout(out).trial("dice", 0).metrics
    stamp = trial.stat().st_mtime_ns
    assert main([*ARGS, "--out", str(out), "--force"]) == 0
    assert trial.stat().st_mtime_ns != stamp  # the trial was deleted and run again
    assert (out / "notes.txt").read_text() == "my notes on this run\n"
    assert (out / "analysis" / "plot.py").exists()


def test_a_folder_holding_something_else_is_refused(tmp_path: Path) -> None:
    config = tiny(["dice"])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("1,2\n")
    for force in (False, True):
        with pytest.raises(ValueError, match=r"mine .*data.csv"):
            run(config, mine, force=force, progress=False)
    assert [p.name for p in mine.iterdir()] == ["data.csv"]  # not even a lock file
    only_lock = tmp_path / "interrupted"
    only_lock.mkdir()
    (only_lock / ".lock").write_text("")  # a run stopped before it wrote its config
    assert check_run_folder(config, only_lock) == []


def test_force_refuses_home_root_cwd_and_folders_holding_the_data_or_lossbench(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(ValueError, match="is your home folder"):
        check_deletable(home)
    with pytest.raises(ValueError, match="is a filesystem root"):
        check_deletable("/")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="is the current directory"):
        check_deletable(".")
    run_folder = tmp_path / "project"
    run(tiny(["dice"]), run_folder, progress=False)
    assert folder_kind(run_folder) == "run"
    with pytest.raises(ValueError, match=r"holds the data folder .*project/msdata"):
        check_deletable(run_folder, run_folder / "msdata")
    package = Path(lossbench.__file__).resolve().parent
    with pytest.raises(ValueError, match="holds lossbench's package"):
        check_deletable(package.parent.parent)
    with pytest.raises(ValueError, match="holds lossbench's package"):
        check_deletable(package)


def test_a_run_never_writes_into_its_data_folder(tmp_path: Path) -> None:
    from lossbench.data import synthesize

    synthesize(
        tmp_path / "msdata", 4, seed=3, shape=(28, 28, 28), lesion_free=0.25, phantom="blobs"
    )
    (tmp_path / "msdata" / "phantom.json").unlink()  # an MSSEG-2 folder of the user's
    config = apply_overrides(tiny(["dice"]), [f"data.source={tmp_path / 'msdata'}"])
    with pytest.raises(ValueError, match="lies inside the data folder"):
        run(config, tmp_path / "msdata" / "run", progress=False)
    assert not (tmp_path / "msdata" / "run").exists()
