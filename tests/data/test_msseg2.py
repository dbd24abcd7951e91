"""The MSSEG-2 loader and `lossbench data check`: every bad input named precisely."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from lossbench.cli import main
from lossbench.data import FILES, check_dataset, generate_case, load_case, load_dataset, write_case
from tests._helpers.nifti import load_nifti, read_volume


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    return write_case(generate_case(4, (24, 28, 24), phantom="blobs"), tmp_path)


def _rewrite(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> None:
    old = load_nifti(path)
    nib.save(nib.Nifti1Image(data, old.affine if affine is None else affine), str(path))


def test_missing_file_is_named(case_dir: Path) -> None:
    (case_dir / FILES["baseline"]).unlink()
    with pytest.raises(FileNotFoundError, match="flair_time01_on_middle_space.nii.gz"):
        load_case(case_dir)


def test_optional_brain_mask(case_dir: Path) -> None:
    (case_dir / FILES["brain_mask"]).unlink()
    assert load_case(case_dir).brain_mask is None


def test_time_points_of_different_shapes(case_dir: Path) -> None:
    _rewrite(case_dir / FILES["baseline"], np.zeros((24, 28, 23), np.float32))
    with pytest.raises(ValueError, match=r"shape \(24, 28, 23\) but .* has \(24, 28, 24\)"):
        load_case(case_dir)


def test_time_points_of_different_affines(case_dir: Path) -> None:
    path = case_dir / FILES["baseline"]
    _rewrite(path, read_volume(path), np.diag([2.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="different affines"):
        load_case(case_dir)


def test_label_must_be_binary(case_dir: Path) -> None:
    label = np.zeros((24, 28, 24), np.uint8)
    label[1, 1, 1] = 2
    _rewrite(case_dir / FILES["label"], label)
    with pytest.raises(
        ValueError, match=r"ground_truth.nii.gz must be binary \(0/1\), found values \[2\]"
    ):
        load_case(case_dir)


def test_nan_voxels_are_counted(case_dir: Path) -> None:
    path = case_dir / FILES["followup"]
    data = read_volume(path).copy()
    data[0, 0, :3] = np.nan
    data[1, 1, 1] = np.inf
    _rewrite(path, data)
    with pytest.raises(ValueError, match="flair_time02_on_middle_space.nii.gz has 4 NaN or inf"):
        load_case(case_dir)


def test_truncated_file_is_named(case_dir: Path) -> None:
    path = case_dir / FILES["followup"]
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(ValueError, match="cannot read .*flair_time02_on_middle_space.nii.gz"):
        load_case(case_dir)


def test_garbage_file_is_named(case_dir: Path) -> None:
    (case_dir / FILES["label"]).write_bytes(b"not a nifti")
    with pytest.raises(ValueError, match="cannot read .*ground_truth.nii.gz"):
        load_case(case_dir)


def test_dataset_is_lazy_and_ordered(tmp_path: Path) -> None:
    for seed, name in [(1, "b"), (2, "a")]:
        write_case(generate_case(seed, (24, 24, 24), case_id=name, phantom="blobs"), tmp_path)
    data = load_dataset(tmp_path)
    assert data.case_ids == ["a", "b"] and len(data) == 2
    assert load_dataset(tmp_path, ["b"])[0].case_id == "b"
    with pytest.raises(FileNotFoundError, match="case folders not found .*: zz"):
        load_dataset(tmp_path, ["zz"])
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        load_dataset(tmp_path / "nope")


def test_check_lists_every_problem_and_exits_1(tmp_path: Path, capsys) -> None:
    for seed in range(3):
        write_case(generate_case(seed, (24, 24, 24), case_id=f"c{seed}", phantom="blobs"), tmp_path)
    assert main(["data", "check", str(tmp_path)]) == 0
    (tmp_path / "c0" / FILES["label"]).unlink()
    (tmp_path / "c2" / FILES["baseline"]).write_bytes(b"broken")
    problems = check_dataset(tmp_path)
    assert len(problems) == 2
    assert problems[0].startswith("c0: missing file") and problems[1].startswith("c2: cannot read")
    assert main(["data", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2:] == problems


def test_synth_command_with_preview(tmp_path: Path, capsys) -> None:
    args = ["data", "synth", "--out", str(tmp_path), "--cases", "3", "--seed", "2"]
    assert main([*args, "--shape", "32", "40", "32", "--preview"]) == 0
    assert (tmp_path / "preview.png").stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        "case_000",
        "case_001",
        "case_002",
    ]
    assert main(["data", "check", str(tmp_path)]) == 0
    assert main(["data", "synth", "--out", str(tmp_path), "--cases", "0"]) == 2
