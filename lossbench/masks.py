"""The mask files of ``lossbench score``: finding them in a folder (flat, nnU-Net's
``labelsTs/``, MSSEG-2 case folders), matching predictions to references by case id, and
reading a label image as a lesion mask."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lossbench.data.msseg2 import FILES

__all__ = ["find_masks", "flat_masks", "match_cases", "read_mask", "shown"]

_ENDINGS = (".nii.gz", ".nii")


def _case_id(name: str) -> str | None:
    for ending in _ENDINGS:
        if name.endswith(ending) and not name.startswith("."):
            return name[: -len(ending)]
    return None


def flat_masks(folder: Path) -> dict[str, Path]:
    """Case id -> file of the ``<case>.nii.gz`` (or ``.nii``) files of ``folder``.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "p01.nii.gz").write_bytes(b""), (folder / ".p02.nii").write_bytes(b"")
        >>> list(flat_masks(folder))
        ['p01']
    """
    return {
        case_id: file
        for file in sorted(folder.iterdir())
        if (case_id := _case_id(file.name)) is not None and file.is_file()
    }


def find_masks(folder: str | Path) -> dict[str, Path]:
    """Case id -> mask file of a folder: ``labelsTs/`` of an nnU-Net raw dataset, MSSEG-2 case
    folders (``<case>/ground_truth.nii.gz``), or flat ``<case>.nii.gz`` files.

    Raises:
        FileNotFoundError: ``folder`` is not a folder, or holds no mask in any of these layouts.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "p01.nii.gz").write_bytes(b""), (folder / "p02.nii").write_bytes(b"")
        >>> sorted(find_masks(folder))
        ['p01', 'p02']
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder at {root}")
    if (root / "labelsTs").is_dir():
        root = root / "labelsTs"
    cases = {
        d.name: d / FILES["label"]
        for d in sorted(root.iterdir())
        if d.is_dir() and (d / FILES["label"]).is_file()
    }
    if cases:
        return cases
    flat = flat_masks(root)
    if not flat:
        raise FileNotFoundError(
            f"{root} holds no mask: expected <case>.nii.gz files, an nnU-Net dataset's labelsTs/ "
            f"or MSSEG-2 case folders with {FILES['label']}"
        )
    return flat


def match_cases(
    reference: Mapping[str, Path], predictions: Mapping[str, Path], method: str, allow_missing: bool
) -> list[tuple[str, Path, Path | None]]:
    """``(case id, reference file, prediction file or None)`` for every reference case.

    Raises:
        ValueError: a reference case has no prediction (unless ``allow_missing``), or a
            prediction has no reference case; the message lists both.

    Example:
        >>> match_cases({"a": Path("r/a.nii.gz")}, {}, "m", allow_missing=True)
        [('a', PosixPath('r/a.nii.gz'), None)]
    """
    missing = sorted(set(reference) - set(predictions))
    extra = sorted(set(predictions) - set(reference))
    if (missing and not allow_missing) or extra:
        problems = []
        if missing:
            problems.append(f"no prediction for {len(missing)} case(s): {', '.join(missing)}")
        if extra:
            problems.append(
                f"{len(extra)} prediction(s) without a reference case: {', '.join(extra)}"
            )
        hint = " (--allow-missing scores a missing prediction as an empty mask)" if missing else ""
        raise ValueError(f"method {method}: " + "; ".join(problems) + hint)
    return [(case_id, reference[case_id], predictions.get(case_id)) for case_id in reference]


def _scaling(path: Path) -> str:
    """The header scaling of a NIfTI file, for a message (empty when it has none)."""
    import nibabel as nib

    image: Any = nib.load(str(path))
    slope, inter = image.dataobj.slope, image.dataobj.inter
    if (slope, inter) == (1.0, 0.0):
        return ""
    return f" after the header's scaling (slope {slope:g}, intercept {inter:g})"


def shown(values: np.ndarray) -> str:
    """The first ten of ``values``, for a message.

    Example:
        >>> shown(np.arange(12))
        '0, 1, 2, 3, 4, 5, 6, 7, 8, 9 ...'
    """
    return ", ".join(f"{v:g}" for v in values[:10]) + (" ..." if len(values) > 10 else "")


def read_mask(data: np.ndarray, path: Path, label: int | None) -> np.ndarray:
    """The lesion mask of a label image: ``data == label``, or ``data == 1`` of a binary one.

    Raises:
        ValueError: non-integer values (naming ``path``), or a non-binary image without
            ``label``.

    Example:
        >>> read_mask(np.array([[[0, 2, 1]]]), Path("m.nii.gz"), label=2).tolist()
        [[[False, True, False]]]

    Values are read as NIfTI defines them (the header's slope and intercept applied), and must
    be whole numbers: a probability map needs a threshold, which is the user's to choose.
    """
    if data.dtype.kind == "f":
        fraction = data != np.round(data)
        if fraction.any():
            values = np.unique(data[fraction])
            raise ValueError(
                f"{path} is not a label image: it holds the non-integer value(s) "
                f"{shown(values)}{_scaling(path)}; a probability map needs a threshold: save "
                "(probability > t) as integers, with the t you choose"
            )
    if label is not None:
        return np.asarray(data == label)
    low, high = data.min(), data.max()  # two passes, where np.unique would sort the volume
    if not (low >= 0 and high <= 1):
        raise ValueError(
            f"{path} is not a binary mask (values {shown(np.unique(data))}); choose the lesion "
            "label with --label K"
        )
    return np.asarray(data == 1)
