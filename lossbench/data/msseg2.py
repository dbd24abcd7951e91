"""Reading MSSEG-2 folders (and the phantom, which uses the same layout).

``ROOT/<case_id>/flair_time01_on_middle_space.nii.gz`` (baseline),
``flair_time02_on_middle_space.nii.gz`` (follow-up), ``ground_truth.nii.gz`` (new-lesion mask)
and optionally ``brain_mask.nii.gz``. Spacing and orientation come from the NIfTI header.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FILES",
    "TISSUE_FILE",
    "Case",
    "Dataset",
    "check_dataset",
    "complete_cases",
    "load_case",
    "load_dataset",
    "read_volume",
]

FILES = {
    "baseline": "flair_time01_on_middle_space.nii.gz",
    "followup": "flair_time02_on_middle_space.nii.gz",
    "label": "ground_truth.nii.gz",
    "brain_mask": "brain_mask.nii.gz",
}
REQUIRED = ("baseline", "followup", "label")
TISSUE_FILE = "tissue.nii.gz"
"""A case's optional tissue map (the anatomy phantom writes one;
:data:`lossbench.data.anatomy.TISSUE_CLASSES`)."""


@dataclass
class Case:
    """One longitudinal case.

    Attributes:
        case_id: the folder's name.
        baseline, followup: float32 volumes (x, y, z).
        label: uint8 new-lesion mask.
        brain_mask: uint8 mask, or ``None`` when the folder has none.
        spacing: voxel size (mm) per axis, from the header.
        affine: 4x4 voxel-to-world matrix of the follow-up.
        images: the scans, in channel order, of a case that is not one baseline and one
            follow-up (an nnU-Net dataset with one channel or more than two); ``baseline`` and
            ``followup`` are then its first and last channel. Empty for a longitudinal case.
        tissue: the case's tissue map (``tissue.nii.gz``), or ``None`` when it has none.
    """

    case_id: str
    baseline: np.ndarray
    followup: np.ndarray
    label: np.ndarray
    brain_mask: np.ndarray | None
    spacing: tuple[float, float, float]
    affine: np.ndarray
    images: tuple[np.ndarray, ...] = ()
    tissue: np.ndarray | None = None


def read_volume(path: str | Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """``(data, affine 4x4, voxel size in mm per axis)`` of a 3D NIfTI file.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file cannot be read (its name and the reader's error), or is not 3D.

    Example:
        >>> import tempfile, nibabel as nib
        >>> path = Path(tempfile.mkdtemp()) / "m.nii.gz"
        >>> nib.save(nib.Nifti1Image(np.zeros((2, 3, 4), np.uint8), np.diag([1, 2, 3, 1])), path)
        >>> data, affine, spacing = read_volume(path)
        >>> data.shape, spacing
        ((2, 3, 4), (1.0, 2.0, 3.0))
    """
    import nibabel as nib

    path = Path(path)

    if not path.is_file():
        raise FileNotFoundError(f"missing file: {path}")
    try:
        image: Any = nib.load(str(path))
        data = np.asarray(image.dataobj)
    except Exception as exc:  # nibabel raises many types for corrupt or truncated files
        raise ValueError(f"cannot read {path}: {type(exc).__name__}: {exc}") from exc
    if data.ndim != 3:
        raise ValueError(f"{path} must hold a 3D volume, got shape {data.shape}")
    x, y, z = (float(v) for v in image.header.get_zooms()[:3])
    zooms = (x, y, z)
    return data, np.asarray(image.affine, dtype=np.float64), zooms


def load_case(case_dir: str | Path) -> Case:
    """Load and validate one case folder.

    Raises:
        FileNotFoundError: a required file is missing (named).
        ValueError: unreadable or truncated file, time points or label of different shapes or
            affines (both named), a label with values other than 0/1, NaN or inf voxels (file and
            count named).

    Example:
        >>> import tempfile
        >>> from lossbench.data.synthetic import generate_case, write_case
        >>> folder = write_case(generate_case(0, shape=(24, 24, 24)), tempfile.mkdtemp())
        >>> load_case(folder).spacing
        (1.0, 1.0, 1.0)
    """
    folder = Path(case_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"case folder not found: {folder}")
    paths = {key: folder / name for key, name in FILES.items()}
    paths["tissue"] = folder / TISSUE_FILE
    volumes = {key: read_volume(paths[key]) for key in REQUIRED}
    for key in ("brain_mask", "tissue"):
        if paths[key].is_file():
            volumes[key] = read_volume(paths[key])
    ref_data, ref_affine, spacing = volumes["followup"]
    for key, (data, affine, _) in volumes.items():
        if data.shape != ref_data.shape:
            raise ValueError(
                f"{paths[key]} has shape {data.shape} but {paths['followup']} has {ref_data.shape}"
            )
        if not np.allclose(affine, ref_affine, atol=1e-4):
            raise ValueError(
                f"{paths[key]} and {paths['followup']} have different affines:\n"
                f"{affine.round(4)}\nand\n{ref_affine.round(4)}"
            )
    for key in ("baseline", "followup"):
        bad = int(np.count_nonzero(~np.isfinite(volumes[key][0])))
        if bad:
            raise ValueError(f"{paths[key]} has {bad} NaN or inf voxels")
    for key in ("label", "brain_mask"):
        if key in volumes:
            values = np.unique(volumes[key][0])
            if not np.isin(values, (0, 1)).all():
                raise ValueError(
                    f"{paths[key]} must be binary (0/1), found values "
                    f"{values[~np.isin(values, (0, 1))][:5].tolist()}"
                )
    _check_tissue(volumes.get("tissue"), paths["tissue"])
    mask, tissue = volumes.get("brain_mask"), volumes.get("tissue")
    return Case(
        case_id=folder.name,
        baseline=volumes["baseline"][0].astype(np.float32),
        followup=ref_data.astype(np.float32),
        label=volumes["label"][0].astype(np.uint8),
        brain_mask=None if mask is None else mask[0].astype(np.uint8),
        spacing=spacing,
        affine=ref_affine,
        tissue=None if tissue is None else tissue[0].astype(np.int16),
    )


def _check_tissue(volume: tuple | None, path: Path) -> None:
    """Refuse a tissue map (a :func:`read_volume` result, or None: no map) that holds codes
    other than the phantom's (0 outside)."""
    from lossbench.data.locations import check_tissue

    if volume is not None:
        check_tissue(volume[0], str(path))


class Dataset(Sequence[Case]):
    """A folder of cases, loaded one at a time on access (never all held in memory).

    Example:
        >>> import tempfile
        >>> from lossbench.data.synthetic import synthesize
        >>> root = tempfile.mkdtemp(); _ = synthesize(root, 2, shape=(24, 24, 24))
        >>> data = load_dataset(root)
        >>> len(data), data.case_ids, data[1].case_id
        (2, ['case_000', 'case_001'], 'case_001')
    """

    def __init__(self, root: Path, case_ids: list[str]) -> None:
        self.root = root
        self.case_ids = case_ids

    def __len__(self) -> int:
        return len(self.case_ids)

    def __getitem__(self, index: int) -> Case:  # type: ignore[override]
        return load_case(self.root / self.case_ids[index])

    def __iter__(self) -> Iterator[Case]:
        for case_id in self.case_ids:
            yield load_case(self.root / case_id)


def _case_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def load_dataset(root: str | Path, case_ids: Sequence[str] | None = None) -> Dataset:
    """The cases of an MSSEG-2-style folder (sorted case ids, or ``case_ids`` in that order).

    Raises:
        FileNotFoundError: ``root`` or one of ``case_ids`` does not exist, or ``root`` holds
            no case folder.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {folder}")
    ids = list(case_ids) if case_ids is not None else _case_dirs(folder)
    missing = [i for i in ids if not (folder / i).is_dir()]
    if missing:
        raise FileNotFoundError(f"case folders not found in {folder}: {', '.join(missing)}")
    if not ids:
        raise FileNotFoundError(f"no case folder in {folder}")
    return Dataset(folder, ids)


def complete_cases(root: str | Path) -> list[str]:
    """Sorted ids of the case folders of ``root``, every one of which must hold a baseline, a
    follow-up and a label (a brain mask is optional).

    Raises:
        FileNotFoundError: ``root`` is not a folder, no case folder in it is complete, or one
            lacks some of those files (the first such case and its missing files named; hidden
            folders, whose names start with ``.``, are not cases).

    Example:
        >>> import tempfile
        >>> from lossbench.data.synthetic import synthesize
        >>> root = tempfile.mkdtemp()
        >>> _ = synthesize(root, 2, shape=(24, 24, 24))
        >>> complete_cases(root)
        ['case_000', 'case_001']
    """
    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {folder}")
    needed = [FILES[k] for k in REQUIRED]
    ids = _case_dirs(folder)
    lacking = {i: [n for n in needed if not (folder / i / n).is_file()] for i in ids}
    if all(lacking.values()):
        raise FileNotFoundError(
            f"{folder}: no case folder holds {', '.join(needed)}; expected ROOT/<case_id>/ with "
            "those files"
        )
    for case_id, missing in lacking.items():
        if missing:
            raise FileNotFoundError(
                f"{folder}: case {case_id} lacks {', '.join(missing)}; complete it or move it "
                f"out of the folder (`lossbench data check {folder}` lists every problem)"
            )
    return ids


def check_dataset(root: str | Path) -> list[str]:
    """Validate every case of a folder; one line per problem found (empty when all is well).

    Example:
        >>> import tempfile
        >>> check_dataset(tempfile.mkdtemp())[0].startswith("no case folder")
        True
    """
    try:
        data = load_dataset(root)
    except FileNotFoundError as exc:
        return [str(exc)]
    problems = []
    for case_id in data.case_ids:
        try:
            load_case(data.root / case_id)
        except (FileNotFoundError, ValueError) as exc:
            problems.append(f"{case_id}: {exc}".replace("\n", " "))
    return problems
