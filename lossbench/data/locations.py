"""Where a lesion lies, from a case's tissue map (``tissue.nii.gz``, which the anatomy phantom
writes): the location classes of MS lesions, as a region map that the lesion-wise evaluation
reads (:func:`lossbench.metrics.evaluate_case_lesions`).

A lesion is *infratentorial* when any of its voxels is infratentorial white matter; else
*periventricular* when any lies within ``periventricular_mm`` (3 mm) of the lateral
ventricles; else *juxtacortical* when any lies within ``juxtacortical_mm`` (2 mm) of grey
matter; else *deep* (deep white matter). MAGNIMS's definitions ask that a lesion touch the
ventricles or the cortex; the margins allow for partial volume at 1 mm. On the anatomy phantom
these classes agree with the class each new lesion was drawn with for 94% of them (70 lesions of
12 cases at 1 mm; tests/data/test_locations.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from lossbench.data.anatomy import TISSUE_CLASSES

__all__ = ["LOCATION_CLASSES", "check_tissue", "location_map"]

LOCATION_CLASSES = ("infratentorial", "periventricular", "juxtacortical", "deep")
"""The location classes, in order of precedence: region code k is class k - 1 of this tuple."""


def check_tissue(tissue: np.ndarray, where: str, integer: bool = False) -> None:
    """Raise ``ValueError``, naming ``where`` (a file, an argument), unless ``tissue`` is a 3D
    map of :data:`lossbench.data.anatomy.TISSUE_CLASSES`' codes (0 outside the brain), of an
    integer dtype when ``integer``.

    Example:
        >>> check_tissue(np.full((2, 2, 2), 9), "t.nii.gz")
        Traceback (most recent call last):
        ...
        ValueError: t.nii.gz must hold the tissue codes ... holding [9]
    """
    codes = np.asarray(tissue)
    odd = np.unique(codes[~np.isin(codes, (0, *TISSUE_CLASSES.values()))])[:5].tolist()
    if codes.ndim != 3 or odd or (integer and codes.dtype.kind not in "iu"):
        raise ValueError(
            f"{where} must hold the tissue codes {TISSUE_CLASSES} (0 outside the brain) as a 3D "
            f"integer map, got {codes.dtype} of shape {codes.shape}"
            + (f" holding {odd}" if odd else "")
        )


def location_map(
    tissue: np.ndarray,
    spacing: Sequence[float],
    *,
    periventricular_mm: float = 3.0,
    juxtacortical_mm: float = 2.0,
) -> np.ndarray:
    """The region map of a tissue map: each brain voxel's location class code (1-based in
    :data:`LOCATION_CLASSES`), 0 outside the brain.

    Args:
        tissue: int 3D map of :data:`lossbench.data.anatomy.TISSUE_CLASSES` (0 outside).
        spacing: voxel size (mm) per axis.
        periventricular_mm, juxtacortical_mm: the margins (mm) about the ventricles and the
            grey matter.

    Returns:
        int8 array of ``tissue``'s shape.

    Raises:
        ValueError: ``tissue`` is not a 3D map of the tissue codes.

    Example:
        >>> t = np.full((1, 1, 9), TISSUE_CLASSES["wm"]); t[0, 0, 0] = TISSUE_CLASSES["ventricles"]
        >>> t[0, 0, 8] = TISSUE_CLASSES["gm"]
        >>> location_map(t, (1, 1, 1))[0, 0].tolist()  # 3 mm of the ventricle, 2 of the cortex
        [2, 2, 2, 2, 4, 4, 3, 3, 3]
    """
    codes = np.asarray(tissue)
    check_tissue(codes, "`tissue`", integer=True)
    brain = codes > 0
    order = {name: code for code, name in enumerate(LOCATION_CLASSES, start=1)}
    out = np.where(brain, order["deep"], 0).astype(np.int8)
    for name, tissue_name, margin in (
        ("juxtacortical", "gm", juxtacortical_mm),
        ("periventricular", "ventricles", periventricular_mm),
    ):
        target = codes == TISSUE_CLASSES[tissue_name]
        if target.any():
            near = ndimage.distance_transform_edt(~target, sampling=spacing) <= margin
            out[brain & near] = order[name]
    out[codes == TISSUE_CLASSES["infratentorial_wm"]] = order["infratentorial"]
    return out
