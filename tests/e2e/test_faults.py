"""Fault injection: each fault gives a clear message naming the file or key, loses nothing
finished, and the run resumes afterwards to the result of an uninterrupted run."""

from __future__ import annotations

import dataclasses
import errno
import gzip
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from lossbench.cli import main
from lossbench.data import generate_case, write_case
from lossbench.data.msseg2 import FILES
from lossbench.layout import RunLayout
from lossbench.results import load
from lossbench.run import RunFolderInUseError, run
from tests._helpers.nifti import load_nifti, read_volume
from tests._helpers.runs import TINY, tiny


def _same_as_uninterrupted(folder: Path, reference: Path) -> None:
    pd.testing.assert_frame_equal(
        load(folder).drop(columns="train_seconds"), load(reference).drop(columns="train_seconds")
    )


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted tiny run with dice and ce."""
    folder = tmp_path_factory.mktemp("whole")
    run(tiny(["dice", "ce"]), folder, progress=False)
    return folder


def _msseg2(root: Path) -> Path:
    for i, case_id in enumerate(["p01", "p02", "p03", "p04"]):
        case = generate_case(i, shape=(28, 28, 28), phantom="blobs")
        write_case(dataclasses.replace(case, case_id=case_id), root)
    return root


def _replace_volume(path: Path, data: np.ndarray) -> None:
    nib.save(nib.Nifti1Image(data, load_nifti(path).affine), path)


@pytest.mark.parametrize("fault", ["truncated", "nan", "label 0/2"])
def test_a_bad_input_file_is_named_and_the_fixed_run_goes_on(tmp_path: Path, fault: str) -> None:
    root = _msseg2(tmp_path / "msseg2")
    key = "label" if fault == "label 0/2" else "followup"
    bad = root / "p02" / FILES[key]
    good = bad.read_bytes()
    if fault == "truncated":
        bad.write_bytes(gzip.compress(gzip.decompress(good)[:1000]))
        message = f"cannot read {bad}"
    elif fault == "nan":
        volume = read_volume(bad).astype(np.float32)
        volume[3, 4, 5] = np.nan
        _replace_volume(bad, volume)
        message = f"{bad} has 1 NaN or inf voxels"
    else:
        volume = read_volume(bad).astype(np.uint8)
        volume[volume == 1] = 2
        volume[0, 0, 0] = 2
        _replace_volume(bad, volume)
        message = rf"{bad} must be binary \(0/1\), found values \[2\]"
    config = tiny(
        ["dice"], data=dataclasses.replace(tiny([]).data, source=str(root), test_fraction=0.5)
    )
    with pytest.raises(ValueError, match=message):
        run(config, tmp_path / "run", progress=False)
    bad.write_bytes(good)
    run(config, tmp_path / "run", progress=False)  # the same command, once the file is fixed
    assert len(load(tmp_path / "run")) == 2


def _disk_full(path: object) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def test_disk_full_while_writing_a_checkpoint(
    tmp_path: Path, whole: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, real_save, calls = RunLayout(tmp_path), torch.save, []

    def save(obj: object, f: object, *args: object, **kwargs: object) -> None:
        if str(f).startswith(str(layout.trial("ce", 0).folder)):
            calls.append(f)
            if len(calls) == 2:  # the second checkpoint (iteration 4) finds the disk full
                Path(str(f)).write_bytes(b"the first bytes of a checkpoint")
                raise _disk_full(f)
        real_save(obj, f, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(OSError, match="No space left on device"):
        run(tiny(["dice", "ce"]), tmp_path, progress=False)
    trial = layout.trial("ce", 0)
    assert torch.load(trial.checkpoint, weights_only=False)["iteration"] == 2  # the last whole one
    assert not list(trial.folder.glob("*.partial")) and not trial.metrics.exists()
    assert layout.trial("dice", 0).metrics.exists()  # the finished trial is kept
    monkeypatch.undo()
    run(tiny(["dice", "ce"]), tmp_path, progress=False)
    _same_as_uninterrupted(tmp_path, whole)


def test_disk_full_while_writing_the_results(
    tmp_path: Path, whole: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_to_csv = pd.DataFrame.to_csv

    def to_csv(self: pd.DataFrame, path: object = None, *args: object, **kwargs: object) -> object:
        if str(path).endswith("results.csv.partial"):
            Path(str(path)).write_text("loss,seed\n")
            raise _disk_full(path)
        return real_to_csv(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    with pytest.raises(OSError, match="No space left on device"):
        run(tiny(["dice", "ce"]), tmp_path, progress=False)
    layout = RunLayout(tmp_path)
    assert not layout.results_csv.exists() and not list(tmp_path.glob("*.partial"))
    assert all(layout.trial(n, 0).metrics.exists() for n in ("dice", "ce"))
    monkeypatch.undo()
    stamp = layout.trial("dice", 0).metrics.stat().st_mtime_ns
    run(tiny(["dice", "ce"]), tmp_path, progress=False)
    assert layout.trial("dice", 0).metrics.stat().st_mtime_ns == stamp  # not recomputed
    _same_as_uninterrupted(tmp_path, whole)


def _cli_args(sets: list[str], out: Path, losses: str = "dice,ce") -> list[str]:
    args = ["run", "--losses", losses, "--device", "cpu", "--out", str(out)]
    return args + [a for item in sets for a in ("--set", item)]


def test_sigkill_during_a_checkpoint_write(tmp_path: Path, whole: Path) -> None:
    driver = textwrap.dedent(
        """
        import os, signal, sys, torch
        real, calls = torch.save, []
        def save(obj, f, *args, **kwargs):
            if os.path.basename(os.path.dirname(str(f))) == "ce-seed0":
                calls.append(f)
                if len(calls) == 2:  # killed halfway through the second checkpoint
                    open(f, "wb").write(b"the first bytes of a checkpoint")
                    os.kill(os.getpid(), signal.SIGKILL)
            real(obj, f, *args, **kwargs)
        torch.save = save
        from lossbench.cli import main
        sys.exit(main(sys.argv[1:]))
        """
    )
    args = _cli_args(TINY, tmp_path)
    done = subprocess.run([sys.executable, "-c", driver, *args], capture_output=True, timeout=300)
    assert done.returncode == -signal.SIGKILL
    trial = RunLayout(tmp_path).trial("ce", 0)
    assert torch.load(trial.checkpoint, weights_only=False)["iteration"] == 2
    assert main(args) == 0  # the lock died with the process; the run resumes
    _same_as_uninterrupted(tmp_path, whole)


def test_a_second_run_on_a_folder_in_use_is_refused(tmp_path: Path, capsys) -> None:
    sets = [*TINY, "train.iterations=400", "train.checkpoint_every=5"]
    args = _cli_args(sets, tmp_path, losses="dice")
    first = subprocess.Popen(
        [sys.executable, "-m", "lossbench.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = RunLayout(tmp_path).trial("dice", 0).checkpoint
    try:
        deadline = time.monotonic() + 120
        while not checkpoint.exists() and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before the test could overlap it"
        with pytest.raises(
            RunFolderInUseError,
            match=f"another lossbench run \\(pid {first.pid} on host {socket.gethostname()}\\)",
        ):
            run(tiny(["dice"]), tmp_path, progress=False)
        assert main(args) == 2
        assert (
            f"in use by another lossbench run (pid {first.pid} on host" in capsys.readouterr().err
        )
    finally:
        first.kill()
        first.wait(timeout=60)
    assert main(args) == 0  # the folder is free again and the run resumes
    assert len(load(tmp_path)) == 3
