"""A new user's mistakes: every bad command ends with one line on stderr and exit status 2, no
traceback, and nothing outside the command's own folder changes (a stand-in home folder, a
dataset and a reference folder are checksummed before and after each command)."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from lossbench.cli import main
from lossbench.data import generate_case, write_case
from lossbench.data.msseg2 import FILES
from lossbench.trial import record_failure
from tests._helpers.runs import TINY

SETS = [a for item in TINY for a in ("--set", item)]
Patch = Callable[[pytest.MonkeyPatch, Path], None]


def _mask_file(path: Path, data: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)


def _reference(world: Path) -> None:
    """ref/ (two lesion cases, one without), pred/ (binary) and two float prediction folders."""
    for i, case in enumerate(("a", "b", "c")):
        ref = np.zeros((16, 16, 16), np.uint8)
        if case != "c":
            ref[3 + i : 8 + i, 4:9, 4:9] = 1
        pred = np.roll(ref, 1, axis=0)
        _mask_file(world / "ref" / f"{case}.nii.gz", ref)
        _mask_file(world / "pred" / f"{case}.nii.gz", pred)
        _mask_file(world / "half" / f"{case}.nii.gz", pred.astype(np.float32) * 0.5)
        _mask_file(world / "p099" / f"{case}.nii.gz", pred.astype(np.float32) * 0.99)


def _corrupt(world: Path, name: str, value: object) -> None:
    """A copy of the scores whose first lesion case's Dice is ``value`` (CSV only)."""
    folder = world / name
    shutil.copytree(world / "scores", folder)
    (folder / "results.parquet").unlink()
    table = pd.read_csv(folder / "results.csv", dtype={"case_id": str}).astype({"dice": object})
    table.loc[0, "dice"] = value
    table.to_csv(folder / "results.csv", index=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("world")
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("a private key\n")
    (home / ".bashrc").write_text("export PATH\n")
    (home / "Documents").mkdir()
    (home / "Documents" / "thesis.tex").write_text("\\section{Results}\n")
    for i, case_id in enumerate(["p01", "p02", "p03", "p04"]):
        case = generate_case(i, shape=(28, 28, 28), phantom="blobs")
        write_case(dataclasses.replace(case, case_id=case_id), root / "proj" / "msdata")
    shutil.copytree(root / "proj" / "msdata", root / "incomplete")
    (root / "incomplete" / "p02" / FILES["label"]).unlink()
    _reference(root)
    (root / "mine").mkdir()
    (root / "mine" / "results.csv").write_text("my,own\n1,2\n")
    (root / "mine" / "report.md").write_text("# my report\n")
    (root / "notes.txt").write_text("not a state dict\n")
    torch.save(torch.nn.Linear(2, 2).state_dict(), root / "linear.pt")
    (root / "cwd").mkdir()
    score = ["score", "--ref", str(root / "ref"), "--workers", "1"]
    assert main([*score, "--pred", f"m={root / 'pred'}", "--out", str(root / "scores")]) == 0
    shutil.copytree(root / "scores", root / "scores2")
    for name, value in (
        ("nan_dice", "nan"),
        ("na_dice", "n/a"),
        ("text_dice", "high"),
        ("neg", -0.5),
        ("seven", 7.0),
    ):
        _corrupt(root, name, value)
    plan = ["run", "--losses", "dice", "--device", "cpu", *SETS, "--set", "train.init=scratch"]
    assert main([*plan, "--plan-only", "--out", str(root / "prepared")]) == 0
    shutil.copytree(root / "prepared", root / "nan_run")
    record_failure(root / "nan_run", "dice", 0, "loss 'dice' became nan at iteration 1 (seed 0)")
    shutil.copytree(root / "prepared", root / "broken")
    config = root / "broken" / "config.toml"
    config.write_text(config.read_text().replace("iterations = 4", 'iterations = "many"'))
    (root / "a_file").write_text("a file, not a folder\n")
    return root


def _checksums(folder: Path, own: Path | None) -> dict[str, str]:
    """sha1 of every file under ``folder`` (folders listed too), the command's own folder
    aside."""
    sums = {}
    for path in sorted(folder.rglob("*")):
        if own is not None and (path == own or own in path.parents):
            continue
        sums[str(path.relative_to(folder))] = (
            hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        )
    return sums


def _fail_writes_in(folder: str, error: int) -> Patch:
    """Make every CSV write into ``world/folder`` fail with ``error`` (a read-only folder, a full
    disk), as the file system would."""

    def patch(monkeypatch: pytest.MonkeyPatch, world: Path) -> None:
        real = pd.DataFrame.to_csv

        def to_csv(self: pd.DataFrame, path: object = None, *args: object, **kw: object) -> object:
            if str(path).startswith(str(world / folder)):
                raise OSError(error, os.strerror(error), str(path))
            return real(self, path, *args, **kw)

        monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)

    return patch


def _disk_full_while_writing_images(monkeypatch: pytest.MonkeyPatch, world: Path) -> None:
    def save(image: object, path: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(nib, "save", save)


SCORE = ["score", "--ref", "{ref}", "--pred", "m={pred}", "--workers", "1"]
RUN = ["run", "--losses", "dice", "--device", "cpu", "--out", "{new}"]

# (id, command, expected words on stderr, the command's own folder, a patch): one bad command
# per row, kept as a table (fmt: skip) so that each row reads as one finding of the issue
ROWS: list[tuple[str, list[str], str, str | None, Patch | None]] = [
    # 1. deleting is for run folders only
    ("force on the home folder", ["run", "--out", "{home}", "--force"],
     "is your home folder", None, None),
    ("a home folder without force", ["run", "--out", "{home}"],
     "holds .bashrc, .ssh/, Documents/ and no lossbench run (run.json)", None, None),
    ("force on a folder holding the data", ["run", "--data", "{proj}/msdata", "--out", "{proj}",
     "--force"], "--force refused", None, None),
    ("a non-run folder without force", ["run", "--out", "{mine}"],
     "holds report.md, results.csv and no lossbench run", None, None),
    ("dry run of force on the home folder", ["run", "--dry-run", "--out", "{home}", "--force"],
     "is your home folder", None, None),
    ("dry run into the home folder", ["run", "--dry-run", "--out", "{home}"],
     "and no lossbench run", None, None),
    # 2. score prints wrong numbers
    ("a float mask of 0 and 0.5", ["score", "--ref", "{ref}", "--pred", "m={half}"],
     "is not a label image: it holds the non-integer value(s) 0.5", None, None),
    ("a float mask of 0 and 0.99", ["score", "--ref", "{ref}", "--pred", "m={p099}"],
     "non-integer value(s) 0.99", None, None),
    ("a label no reference holds", [*SCORE, "--label", "99"],
     "--label 99 appears in none of the 3 reference masks", None, None),
    ("a label no reference holds (one mask)", [*SCORE, "--label", "2"],
     "--label 2 appears in none", None, None),
    # 3. score --out overwrites
    ("score into the reference folder", [*SCORE, "--out", "{ref}"],
     "is the input", None, None),
    ("score into a folder inside the reference", [*SCORE, "--out", "{ref}/scores"],
     "lies inside the input", None, None),
    ("score into a run folder", [*SCORE, "--out", "{prepared}"],
     "holds a lossbench run", None, None),
    ("score into the user's folder", [*SCORE, "--out", "{mine}"],
     "holds report.md, results.csv and no lossbench scores (score.json)", None, None),
    ("score into a folder holding the predictions", [*SCORE, "--out", "{world}"],
     "contains the input", None, None),
    # 4. impossible tables
    ("a NaN Dice", ["report", "{nan_dice}"],
     "row 1 (method m, case a), column dice: missing (NaN, or empty or 'n/a' in a CSV), but dice "
     "is never missing", None, None),
    ("an 'n/a' Dice", ["report", "{na_dice}"], "column dice: missing (NaN, or empty or 'n/a'",
     None, None),
    ("a Dice that is no number", ["report", "{text_dice}"], "column dice: 'high' is not a number",
     None, None),
    ("a Dice of -0.5", ["report", "{neg}"], "column dice: -0.5 is not in [0, 1]", None, None),
    ("a Dice of 7", ["report", "{seven}"], "column dice: 7.0 is not in [0, 1]", None, None),
    ("compare with an impossible table", ["compare", "{scores}", "{seven}"],
     "column dice: 7.0 is not in [0, 1]", None, None),
    ("score's report of an impossible table", ["report", "{neg}", "--out", "{new}"],
     "row 1 (method m, case a), column dice", None, None),
    # 5. values that failed late
    ("a negative seed", [*RUN, "--seeds", "-1"],
     "--seeds must be integers in [0, 4294967295], got [-1]", None, None),
    ("a seed above 2^64", [*RUN, "--seeds", str(2**64 + 5)],
     "--seeds must be integers in [0, 4294967295]", None, None),
    ("a learning rate of 1e300", [*RUN, "--set", "train.lr=1e300"],
     "--set train.lr must be in (0, 1], got 1e+300", None, None),
    ("train.init that is no state dict", [*RUN, "--set", "train.init={world}/notes.txt"],
     "notes.txt is not a state dict torch can load", None, None),
    ("train.init of another network", [*RUN, "--set", "train.init={world}/linear.pt"],
     "matches none of the", None, None),
    ("a repeated seed", [*RUN, "--seeds", "0,0"],
     "--seeds must be unique (each seed is one trial), got [0, 0]", None, None),
    ("seeds that are no numbers", [*RUN, "--seeds", "0,one"],
     "--seeds must be comma-separated integers, got '0,one'", None, None),
    ("--set preset", [*RUN, "--set", "preset=paper"], "use the --preset flag", None, None),
    ("a case missing its ground truth", [*RUN, "--data", "{world}/incomplete"],
     "case p02 lacks ground_truth.nii.gz", None, None),
    ("phantom cases into a folder of other cases", ["data", "synth", "--out", "{proj}/msdata",
     "--cases", "3"], "no lossbench phantom (phantom.json)", None, None),
    # 6. tracebacks
    ("--set of a whole section", [*RUN, "--set", "data=1"],
     "'data' is a section, not a key: set one of its keys (data.source", None, None),
    ("score --out on a read-only folder", [*SCORE, "--out", "{new}"],
     "permission denied", "{new}", _fail_writes_in("new", errno.EACCES)),
    ("score --out on a file", [*SCORE, "--out", "{world}/a_file"],
     "a_file is a file, not a folder", None, None),
    ("score --out on a full disk", [*SCORE, "--out", "{new}"],
     "no space left on the device of", "{new}", _fail_writes_in("new", errno.ENOSPC)),
    ("report --out on a file", ["report", "{scores}", "--out", "{world}/a_file"],
     "a_file is a file, not a folder", None, None),
    ("compare --out on a file", ["compare", "{scores}", "{scores2}", "--out", "{world}/a_file"],
     "a_file is a file, not a folder", None, None),
    ("collect on a file", ["collect", "{world}/a_file"],
     "a_file is not a lossbench run folder (a file)", None, None),
    ("data synth --out on a file", ["data", "synth", "--out", "{world}/a_file"],
     "a_file is a file, not a folder", None, None),
    ("data export --out on a file", ["data", "export", "--format", "nnunet", "--out",
     "{world}/a_file"], "a_file is a file, not a folder", None, None),
    ("collect after every trial went NaN", ["collect", "{nan_run}"],
     "has finished: 1 failed (why:", "{nan_run}", None),
    ("--resume with a hand-broken config.toml", ["run", "--resume", "--out", "{broken}"],
     "config.toml: train.iterations must be an integer, got 'many'", "{broken}", None),
    ("a disk filling during a run", [*RUN, *SETS], "no space left on the device of", "{new}",
     _disk_full_while_writing_images),
    # smaller
    ("report with an unknown baseline", ["report", "{scores}", "--baseline", "nope"],
     "baseline 'nope' is not one of the methods", None, None),
    ("a trial of a folder that is no run", ["trial", "{mine}", "--index", "0"],
     "mine is not a lossbench run folder (no run.json written by lossbench)", None, None),
]  # fmt: skip


def _fill(text: str, world: Path) -> str:
    names = [
        "home",
        "proj",
        "ref",
        "pred",
        "half",
        "p099",
        "mine",
        "prepared",
        "scores",
        "scores2",
        "nan_dice",
        "na_dice",
        "text_dice",
        "neg",
        "seven",
        "nan_run",
        "broken",
        "new",
    ]
    return text.format(world=world, **{n: world / n for n in names})


@pytest.mark.parametrize(
    ("command", "expected", "own", "patch"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_a_bad_command_is_one_line_exit_2_and_changes_nothing_else(
    world: Path,
    command: list[str],
    expected: str,
    own: str | None,
    patch: Patch | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HOME", str(world / "home"))
    monkeypatch.chdir(world / "cwd")
    own_path = Path(_fill(own, world)) if own else None
    before = _checksums(world, own_path)
    if patch is not None:
        patch(monkeypatch, world)
    status = main([_fill(part, world) for part in command])
    monkeypatch.undo()
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert status == 2, err
    assert "Traceback" not in err
    assert last.startswith(f"lossbench {command[0]}") and expected in last, err
    assert _checksums(world, own_path) == before
    if own_path is not None and own_path.name == "new":
        shutil.rmtree(own_path, ignore_errors=True)
    assert not (world / "new").exists()  # refused before the folder was created


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--set", "data=1", "--out", "x"], "lossbench run: 'data' is a section"),
        (["collect", "a_file"], "lossbench collect: a_file is not a lossbench run folder"),
    ],
)
def test_the_console_script_prints_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "a_file").write_text("")
    command = [sys.executable, "-m", "lossbench.cli", *args]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "LOSSBENCH_DEBUG": ""},
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()] and message in done.stderr
    debug = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "LOSSBENCH_DEBUG": "1"},
    )
    assert "Traceback (most recent call last)" in debug.stderr and debug.returncode == 1


def test_help_and_the_loss_list_import_torch_only_when_needed() -> None:
    probe = (
        "import sys\n"
        "from lossbench.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('torch' in sys.modules)\n"
    )
    for args, needs_torch in ((["--help"], False), (["run", "--help"], False), (["losses"], True)):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert done.stdout.splitlines()[-1] == str(needs_torch), args
