"""nnU-Net raw datasets: the exported phantom reads back to the same prepared arrays and the same
run; a bad dataset is named by case and file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from lossbench.cli import main
from lossbench.data import load_dataset, synthesize
from lossbench.data.nnunet import NnunetDataset, export_nnunet
from lossbench.data.preprocess import prepare_case
from lossbench.results import load
from lossbench.run import run
from tests._helpers.nifti import load_nifti
from tests._helpers.runs import TINY, tiny


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, Path]:
    """Four phantom cases in MSSEG-2's layout, and the same cases as an nnU-Net dataset."""
    msseg2 = tmp_path / "msseg2"
    synthesize(
        msseg2,
        4,
        seed=3,
        shape=(28, 28, 28),
        spacing=(1.0, 0.9, 1.2),
        lesion_free=0.25,
        phantom="blobs",
    )
    out = tmp_path / "Dataset501_Phantom"
    export_nnunet(load_dataset(msseg2), out)
    return msseg2, out


def test_an_exported_phantom_reads_back_to_the_same_prepared_arrays(exported) -> None:
    msseg2, out = exported
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "baseline", "1": "followup"}
    assert meta["numTraining"] == 4 and meta["file_ending"] == ".nii.gz"
    back = NnunetDataset(out, "Tr")
    assert back.case_ids == load_dataset(msseg2).case_ids
    for original, read in zip(load_dataset(msseg2), back, strict=True):
        a, b = prepare_case(original, (1.0, 1.0, 1.0)), prepare_case(read, (1.0, 1.0, 1.0))
        for field in dataclasses.fields(a):
            x, y = getattr(a, field.name), getattr(b, field.name)
            if isinstance(x, np.ndarray):
                np.testing.assert_array_equal(x, y, err_msg=field.name)
            else:
                assert x == y, field.name


def test_a_dataset_with_a_test_split_and_without(tmp_path: Path, exported) -> None:
    _, out = exported
    config = tiny(["dice"])
    source = dataclasses.replace(config.data, source=str(out), test_fraction=0.25)
    run(dataclasses.replace(config, data=source), tmp_path / "run", progress=False)
    assert load(tmp_path / "run")["case_id"].nunique() == 1  # a seeded 25% of 4 Tr cases
    assert (
        main(
            [
                "run",
                "--losses",
                "dice",
                "--device",
                "cpu",
                "--data",
                str(out),
                "--out",
                str(tmp_path / "cli"),
                *[a for s in TINY for a in ("--set", s)],
            ]
        )
        == 0
    )


def _fault(out: Path, fault: str) -> str:
    images, labels = out / "imagesTr", out / "labelsTr"
    if fault == "missing channel":
        (images / "case_001_0001.nii.gz").unlink()
        return r"case case_001: channel 1 \(followup\) is missing: no .*case_001_0001.nii.gz"
    if fault == "missing images":
        (images / "case_002_0000.nii.gz").unlink()
        (images / "case_002_0001.nii.gz").unlink()
        return r"case case_002: channel 0 \(baseline\) is missing"
    if fault == "label missing":
        (labels / "case_001.nii.gz").unlink()
        return r"case case_001: its images are in .*imagesTr but its label is missing: no .*"
    if fault == "unknown label value":
        path = labels / "case_000.nii.gz"
        image = load_nifti(path)
        data = np.asarray(image.dataobj).copy()
        data[0, 0, 0] = 3
        nib.save(nib.Nifti1Image(data, image.affine), path)
        return r"case case_000: .*case_000.nii.gz holds label value\(s\) \[3\] not in dataset"
    if fault == "other shape":
        path = images / "case_003_0000.nii.gz"
        image = load_nifti(path)
        nib.save(nib.Nifti1Image(np.asarray(image.dataobj)[:-1], image.affine), path)
        return r"case case_003: its files have different shapes: .*case_003_0000.nii.gz \(27, 28"
    meta = json.loads((out / "dataset.json").read_text())
    meta["channel_names"] = {}
    (out / "dataset.json").write_text(json.dumps(meta))
    return r"dataset.json names no channel"


@pytest.mark.parametrize(
    "fault",
    [
        "missing channel",
        "missing images",
        "label missing",
        "unknown label value",
        "other shape",
        "no channel",
    ],
)
def test_a_bad_dataset_is_named_by_case_and_file(exported, fault: str) -> None:
    _, out = exported
    message = _fault(out, fault)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        list(NnunetDataset(out, "Tr"))


def test_the_lesion_label_must_be_a_foreground_label(exported) -> None:
    _, out = exported
    with pytest.raises(ValueError, match=r"data.label must be a foreground label of .* got 2"):
        NnunetDataset(out, "Tr", label=2)


def _one_channel(out: Path, exported: Path) -> Path:
    """The exported phantom with its follow-up only, as a one-channel dataset (a single time
    point, as in most lesion datasets)."""
    for folder in ("imagesTr", "labelsTr", "masksTr"):
        (out / folder).mkdir(parents=True)
        for file in (exported / folder).iterdir():
            if folder != "imagesTr":
                (out / folder / file.name).write_bytes(file.read_bytes())
            elif file.name.endswith("_0001.nii.gz"):
                name = file.name.replace("_0001", "_0000")
                (out / folder / name).write_bytes(file.read_bytes())
    meta = json.loads((exported / "dataset.json").read_text())
    meta["channel_names"] = {"0": "FLAIR"}
    (out / "dataset.json").write_text(json.dumps(meta))
    return out


@pytest.mark.parametrize("channels", ["one channel", "two channels, no difference"])
def test_an_end_to_end_run_takes_the_datasets_channels(
    tmp_path: Path, exported, channels: str
) -> None:
    from lossbench.data.nnunet import input_channels
    from lossbench.layout import RunLayout
    from lossbench.train import build_model

    _, out = exported
    difference = True
    if channels == "one channel":
        out = _one_channel(tmp_path / "Dataset503_OneChannel", out)
        case = NnunetDataset(out, "Tr")[0]
        assert len(case.images) == 1
        assert prepare_case(case).image.shape[0] == 1
    else:
        difference = False
    config = tiny(["dice", "ce"])
    data = dataclasses.replace(
        config.data, source=str(out), test_fraction=0.5, difference_channel=difference
    )
    config = dataclasses.replace(config, data=data)
    expected = 1 if channels == "one channel" else 2
    assert input_channels(str(out), difference) == expected
    assert build_model(config, 0).in_channels == expected
    run(config, tmp_path / "run", progress=False)
    table = load(tmp_path / "run")
    assert len(table) == 2 * 2 and table["dice"].notna().all()
    assert RunLayout(tmp_path / "run").trial("ce", 0).metrics.exists()


def test_an_export_goes_into_a_new_folder_or_replaces_its_own(exported, tmp_path: Path) -> None:
    msseg2, out = exported
    cases = load_dataset(msseg2)
    export_nnunet([cases[0]], out, [cases[1]])  # over its own earlier export: replaced whole
    assert sorted(p.name for p in (out / "labelsTr").iterdir()) == ["case_000.nii.gz"]
    assert sorted(p.name for p in (out / "labelsTs").iterdir()) == ["case_001.nii.gz"]
    assert json.loads((out / "dataset.json").read_text())["numTraining"] == 1
    theirs = tmp_path / "Dataset502_Theirs"
    (theirs / "imagesTr").mkdir(parents=True)
    (theirs / "dataset.json").write_text('{"name": "theirs"}')
    with pytest.raises(ValueError, match="holds dataset.json, imagesTr/ and no lossbench nnU-Net"):
        export_nnunet([cases[0]], theirs)
    assert (theirs / "dataset.json").read_text() == '{"name": "theirs"}'
    assert (
        main(
            [
                "data",
                "export",
                "--format",
                "nnunet",
                "--data",
                str(msseg2),
                "--out",
                str(msseg2 / "Dataset503_Inside"),
            ]
        )
        == 2
    )
    assert not (msseg2 / "Dataset503_Inside").exists()
