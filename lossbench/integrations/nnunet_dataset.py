"""The raw dataset of an nnU-Net benchmark: found by path, name or id, and checked before
nnU-Net starts."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from lossbench.data.nnunet import read_dataset_json
from lossbench.integrations.nnunet_settings import binary_label

__all__ = ["check_dataset", "find_dataset"]

_DATASET = re.compile(r"^Dataset(\d{3})_\S+$")
_NIFTI = (".nii.gz", ".nii")


def find_dataset(dataset: str | Path) -> Path:
    """The raw dataset folder of ``dataset``: a path to a ``DatasetXXX_Name`` folder, or a
    dataset name or id under ``$nnUNet_raw``.

    Raises:
        FileNotFoundError: no such folder (the message says where it looked).
        ValueError: the folder's name is not ``DatasetXXX_Name``, as nnU-Net needs.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp()) / "Dataset501_Tiny"
        >>> _ = root.mkdir(), (root / "dataset.json").write_text("{}")
        >>> os.environ["nnUNet_raw"] = str(root.parent)
        >>> find_dataset("501") == find_dataset("Dataset501_Tiny") == find_dataset(root) == root
        True
        >>> del os.environ["nnUNet_raw"]
    """
    path = Path(dataset)
    if (path / "dataset.json").is_file():
        if not _DATASET.match(path.resolve().name):
            raise ValueError(
                f"nnU-Net needs the dataset folder to be named DatasetXXX_Name "
                f"(three digits), got {path.resolve().name!r}"
            )
        return path.resolve()
    raw = os.environ.get("nnUNet_raw")
    if raw is None or os.sep in str(dataset):
        raise FileNotFoundError(
            f"no dataset.json in {path}; give the dataset's folder, or set "
            "nnUNet_raw to find it by name or id"
        )
    text = str(dataset)
    found = [
        d
        for d in sorted(Path(raw).glob("Dataset*"))
        if (d / "dataset.json").is_file()
        and (d.name == text or (text.isdigit() and d.name[7:10] == f"{int(text):03d}"))
    ]
    if len(found) != 1:
        raise FileNotFoundError(
            f"{'no' if not found else 'more than one'} dataset {text!r} in "
            f"nnUNet_raw={raw}" + (f": {found}" if found else "")
        )
    return found[0]


def check_dataset(root: Path, folds: Sequence[str]) -> tuple[int, list[str]]:
    """The lesion label and the test case ids of the raw dataset ``root``, after every check
    that can fail before nnU-Net starts, the nnU-Net ``folds`` to train included.

    Raises:
        FileNotFoundError: no ``imagesTs``/``labelsTs``, no test label, or a test case without
            its image.
        ValueError: not one foreground label, masks that are not NIfTI, folds 0-4 with fewer
            than 5 training cases, or a fold nnU-Net does not have.
    """
    meta = read_dataset_json(root)
    label = binary_label(meta["labels"], str(root / "dataset.json"))
    ending = meta["file_ending"]
    if ending not in _NIFTI:
        raise ValueError(
            f"{root / 'dataset.json'}: file_ending {ending!r}; lossbench scores "
            "NIfTI (.nii.gz or .nii) masks"
        )
    labels_ts, images_ts = root / "labelsTs", root / "imagesTs"
    if not labels_ts.is_dir() or not images_ts.is_dir():
        raise FileNotFoundError(
            f"{root} needs imagesTs/ and labelsTs/: the benchmark scores the test set"
        )
    cases = sorted(p.name[: -len(ending)] for p in labels_ts.glob(f"*{ending}"))
    if not cases:
        raise FileNotFoundError(f"{labels_ts} holds no {ending} label")
    for case in cases:
        if not (images_ts / f"{case}_0000{ending}").is_file():
            raise FileNotFoundError(
                f"{images_ts / f'{case}_0000{ending}'} is missing: labelsTs has {case}"
            )
    training = len(list((root / "labelsTr").glob(f"*{ending}")))
    if any(f != "all" for f in folds) and training < 5:
        raise ValueError(
            f"{root / 'labelsTr'} has {training} case(s); nnU-Net's folds 0-4 "
            "need at least 5 (or use --folds all)"
        )
    for fold in folds:
        if fold not in ("0", "1", "2", "3", "4", "all"):
            raise ValueError(f"--folds: nnU-Net's folds are 0-4 or all, got {fold!r}")
    return label, cases
