"""Lesion statistics of a dataset, set beside MSSEG-2's training set (``lossbench data stats``).

One row per case: the new lesions counted with anima's rule (6-connected components larger
than 3 mm^3), their volumes, their location classes where the case has a tissue map (the
anatomy phantom writes ``tissue.nii.gz``) and their contrast over white matter at follow-up.
:func:`summary` reduces the rows to the numbers :data:`MSSEG2` gives for MSSEG-2's training set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from lossbench.config.phantom import DETECTION_LIMIT_MM3, MSSEG2_COUNTS, MSSEG2_LESION_FREE
from lossbench.data.anatomy import TISSUE_CLASSES
from lossbench.data.lesion_model import LOCATIONS
from lossbench.data.msseg2 import TISSUE_FILE, Case, read_volume
from lossbench.metrics.lesions import label_lesions

__all__ = ["MSSEG2", "case_stats", "dataset_stats", "open_cases", "summary"]

MSSEG2 = {
    "cases": 40,
    "lesion-free share": MSSEG2_LESION_FREE,
    "new lesions": float(sum(MSSEG2_COUNTS)),
    "lesions per positive case, median": float(np.median(MSSEG2_COUNTS)),
    "lesions per positive case, mean": float(np.mean(MSSEG2_COUNTS)),
    "lesions per positive case, max": float(max(MSSEG2_COUNTS)),
}
"""MSSEG-2's training set (40 patients; counts from the per-patient ground truths)."""

_PERIVENTRICULAR_MM = 3.0
_JUXTACORTICAL_MM = 2.0


def _locations(
    labels: np.ndarray, count: int, tissue: np.ndarray, spacing: tuple[float, float, float]
) -> list[str]:
    """Each lesion's class from the tissue map: infratentorial when most of it lies in
    infratentorial white matter, else periventricular within 3 mm of the ventricles, else
    juxtacortical within 2 mm of grey matter, else deep."""
    to_ventricle = ndimage.distance_transform_edt(
        tissue != TISSUE_CLASSES["ventricles"], sampling=spacing
    )
    to_grey = ndimage.distance_transform_edt(tissue != TISSUE_CLASSES["gm"], sampling=spacing)
    classes = []
    for k in range(1, count + 1):
        voxels = labels == k
        if np.mean(tissue[voxels] == TISSUE_CLASSES["infratentorial_wm"]) > 0.5:
            classes.append("infratentorial")
        elif to_ventricle[voxels].min() <= _PERIVENTRICULAR_MM:
            classes.append("periventricular")
        elif to_grey[voxels].min() <= _JUXTACORTICAL_MM:
            classes.append("juxtacortical")
        else:
            classes.append("deep")
    return classes


def case_stats(case: Case, tissue: np.ndarray | None = None) -> dict[str, object]:
    """One case's row.

    Args:
        case: the case (its label, follow-up, brain mask and spacing are used).
        tissue: its tissue map (uint8, :data:`~lossbench.data.anatomy.TISSUE_CLASSES`), or
            ``None``: no location classes, and contrast over the brain's median.

    Returns:
        ``case_id``, ``n_lesions``, ``volume_mm3`` (total), ``volumes_mm3`` (each lesion's,
        space-separated, largest first), ``n_<location>`` per location class (missing without
        a tissue map), ``contrast`` (mean follow-up signal of the lesions over white matter's
        median, minus 1; missing without lesions) and ``contrast_over`` (``white matter`` or
        ``brain median``).

    Example:
        >>> from lossbench.data.synthetic import generate_case
        >>> c = generate_case(0, shape=(32, 32, 32), phantom="blobs", new_lesions=True)
        >>> case = Case(c.case_id, c.baseline, c.followup, c.label, c.brain_mask, c.spacing,
        ...             c.affine)
        >>> row = case_stats(case)
        >>> row["n_lesions"] >= 1, row["contrast_over"]
        (True, 'brain median')
    """
    labels, count = label_lesions(case.label > 0, case.spacing, min_lesion_mm3=DETECTION_LIMIT_MM3)
    voxel_mm3 = float(np.prod(case.spacing))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:] * voxel_mm3
    row: dict[str, object] = {
        "case_id": case.case_id,
        "n_lesions": count,
        "volume_mm3": float(sizes.sum()),
        "volumes_mm3": " ".join(f"{v:g}" for v in sorted(sizes, reverse=True)),
    }
    classes = _locations(labels, count, tissue, case.spacing) if tissue is not None else None
    for name in LOCATIONS:
        row[f"n_{name}"] = classes.count(name) if classes is not None else np.nan
    lesion = labels > 0
    if tissue is not None:
        reference, over = tissue == TISSUE_CLASSES["wm"], "white matter"
    else:
        brain = case.brain_mask > 0 if case.brain_mask is not None else case.followup > 0
        reference, over = brain, "brain median"
    background = float(np.median(case.followup[reference & ~lesion])) if reference.any() else 0
    ok = count and background > 0
    row["contrast"] = float(case.followup[lesion].mean() / background - 1) if ok else np.nan
    row["contrast_over"] = over
    return row


def open_cases(path: str | Path) -> list[tuple[Sequence[Case], Path | None]]:
    """The cases of a folder in MSSEG-2's layout (a phantom included), with the folder holding
    their tissue maps, or of an nnU-Net raw dataset (its training and test parts, no tissue
    maps); each part loads its cases one at a time.

    Raises:
        FileNotFoundError: ``path`` is no dataset folder.
    """
    from lossbench.data.msseg2 import load_dataset
    from lossbench.data.nnunet import NnunetDataset, is_nnunet_dataset

    root = Path(path)
    if is_nnunet_dataset(root):
        parts = ["Tr"] + (["Ts"] if (root / "labelsTs").is_dir() else [])
        return [(NnunetDataset(root, part), None) for part in parts]
    return [(load_dataset(root), root)]


def dataset_stats(path: str | Path, progress: bool = False) -> pd.DataFrame:
    """:func:`case_stats` of every case of ``path`` (:func:`open_cases`), one row each.

    Example:
        >>> import tempfile
        >>> from lossbench.data.synthetic import synthesize
        >>> root = tempfile.mkdtemp()
        >>> _ = synthesize(root, 2, shape=(24, 24, 24), phantom="blobs")
        >>> list(dataset_stats(root).columns[:2])
        ['case_id', 'n_lesions']
    """
    from tqdm import tqdm

    parts = open_cases(path)
    total = sum(len(cases) for cases, _ in parts)
    rows = []
    with tqdm(total=total, desc="stats", unit="case", disable=not progress) as bar:
        for cases, folder in parts:
            for case in cases:
                tissue_path = folder / case.case_id / TISSUE_FILE if folder else None
                tissue = None
                if tissue_path is not None and tissue_path.is_file():
                    tissue = read_volume(tissue_path)[0].astype(np.uint8)
                rows.append(case_stats(case, tissue))
                bar.update()
    return pd.DataFrame(rows)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The dataset's numbers beside MSSEG-2's training set (:data:`MSSEG2`), one row each;
    MSSEG-2 gives no volume or location numbers, so those rows hold only the dataset's.

    Example:
        >>> frame = pd.DataFrame({"n_lesions": [0, 2, 5], "volumes_mm3": ["", "10 40", "8"]})
        >>> round(float(summary(frame).loc["lesion-free share", "this data"]), 3)
        0.333
    """
    counts = frame["n_lesions"].to_numpy()
    positive = counts[counts > 0]
    volumes = np.array([float(v) for text in frame["volumes_mm3"] for v in str(text).split()])
    ours: dict[str, float] = {
        "cases": float(len(counts)),
        "lesion-free share": float(np.mean(counts == 0)) if len(counts) else np.nan,
        "new lesions": float(counts.sum()),
        "lesions per positive case, median": float(np.median(positive))
        if len(positive)
        else np.nan,
        "lesions per positive case, mean": float(positive.mean()) if len(positive) else np.nan,
        "lesions per positive case, max": float(positive.max()) if len(positive) else np.nan,
    }
    for q in (0.1, 0.5, 0.9):
        ours[f"lesion volume, {q:.0%} quantile (mm^3)"] = (
            float(np.quantile(volumes, q)) if len(volumes) else np.nan
        )
    ours["lesions below 100 mm^3"] = float(np.mean(volumes < 100)) if len(volumes) else np.nan
    located = {n: float(np.nansum(frame[f"n_{n}"])) for n in LOCATIONS if f"n_{n}" in frame}
    total = sum(located.values())
    for name, count in located.items():
        if total > 0:
            ours[f"share {name}"] = count / total
    if "contrast" in frame and frame["contrast"].notna().any():
        ours["contrast over white matter, median"] = float(frame["contrast"].median())
    table = pd.DataFrame({"this data": pd.Series(ours)})
    table["MSSEG-2 training"] = pd.Series(MSSEG2, dtype=float)
    return table
