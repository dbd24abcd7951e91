"""Lesion-wise detection, following the MSSEG-2 evaluation (animaSegPerfAnalyzer).

Lesions are connected components (face connectivity by default, as the challenge's tool; 26 on
request). Components of at most ``min_lesion_mm3`` are discarded from both masks (their voxels
count as background). A reference lesion is *detected* when the kept predicted components cover
more than ``alpha`` of its voxels, and the predicted components overlapping it, taken by
decreasing overlap (ties: larger component first) until they account for ``gamma`` of that
overlap, each have at most ``beta`` of their voxels outside every kept reference lesion.
Lesion precision applies the same rule with the roles swapped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from lossbench.metrics._masks import check_masks, union_box

__all__ = ["LesionDetection", "detected", "label_lesions", "lesion_detection"]


def label_lesions(
    mask: np.ndarray,
    spacing: Sequence[float],
    *,
    min_lesion_mm3: float = 3.0,
    connectivity: int = 6,
) -> tuple[np.ndarray, int]:
    """Label the lesions of a boolean mask, dropping those of at most ``min_lesion_mm3``.

    A component is kept when it has more than ``floor(min_lesion_mm3 / voxel volume)`` voxels.

    Args:
        mask: boolean 3D mask.
        spacing: voxel size (mm) per axis.
        min_lesion_mm3: size limit (mm^3).
        connectivity: 6 (face) or 26 (face, edge and corner neighbours).

    Returns:
        ``(labels, n)``: int32 labels 1..n of the kept lesions, 0 elsewhere.

    Example:
        >>> m = np.zeros((1, 1, 9), bool); m[0, 0, :2] = True; m[0, 0, 4:8] = True
        >>> labels, n = label_lesions(m, (1, 1, 1), min_lesion_mm3=3.0)
        >>> n, labels.tolist()
        (1, [[[0, 0, 0, 0, 1, 1, 1, 1, 0]]])
    """
    if connectivity not in (6, 26):
        raise ValueError(f"`connectivity` must be 6 or 26, got {connectivity!r}")
    if not (isinstance(min_lesion_mm3, (int, float)) and min_lesion_mm3 >= 0):
        raise ValueError(f"`min_lesion_mm3` must be a number >= 0, got {min_lesion_mm3!r}")
    structure = ndimage.generate_binary_structure(3, 1 if connectivity == 6 else 3)
    labels, n = ndimage.label(mask, structure=structure)
    min_voxels = math.floor(min_lesion_mm3 / float(np.prod(spacing)))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes > min_voxels
    keep[0] = False
    relabel = np.zeros(n + 1, dtype=np.int32)
    relabel[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return relabel[labels], int(keep.sum())


def detected(
    overlap: np.ndarray,
    size_a: np.ndarray,
    size_b: np.ndarray,
    alpha: float,
    beta: float,
    gamma: float,
) -> np.ndarray:
    """Which lesions of set A are detected by the lesions of set B.

    Args:
        overlap: (n_a, n_b) voxel counts of A-lesion i inside B-lesion j.
        size_a, size_b: voxel counts of each lesion.
        alpha, beta, gamma: the rule's thresholds (module docstring).

    Returns:
        Boolean array (n_a,).

    Example:
        >>> detected(np.array([[5, 0], [1, 1]]), np.array([10, 10]), np.array([5, 20]),
        ...          0.1, 0.7, 0.65)
        array([ True, False])
    """
    outside_b = 1 - overlap.sum(axis=0) / np.maximum(size_b, 1)  # share of each B outside all A
    result = np.zeros(len(size_a), dtype=bool)
    for i, row in enumerate(overlap):
        total = int(row.sum())
        if total <= alpha * size_a[i]:
            continue
        hits = np.flatnonzero(row)
        order = hits[np.lexsort((-size_b[hits], -row[hits]))]  # by overlap, then size
        share = np.cumsum(row[order]) / total
        needed = order[: int(np.searchsorted(share, gamma)) + 1]
        result[i] = bool(np.all(outside_b[needed] <= beta))
    return result


@dataclass(frozen=True)
class LesionDetection:
    """Lesion-wise detection of one case.

    Attributes:
        n_ref, n_pred: kept reference and predicted lesions.
        ref_detected: reference lesions detected by the prediction.
        pred_detected: predicted lesions detected by the reference (roles swapped).
        fp_volume_mm3: volume of the predicted lesions not detected by the reference.
    """

    n_ref: int
    n_pred: int
    ref_detected: int
    pred_detected: int
    fp_volume_mm3: float

    @property
    def n_fp(self) -> int:
        """Predicted lesions that no reference lesion confirms (false-positive lesions)."""
        return self.n_pred - self.pred_detected

    @property
    def recall(self) -> float:
        """Detected reference lesions / reference lesions; NaN without reference lesion."""
        return self.ref_detected / self.n_ref if self.n_ref else float("nan")

    @property
    def precision(self) -> float:
        """Confirmed predicted lesions / predicted lesions; NaN without reference lesion, 0
        with reference lesions but no predicted one."""
        if not self.n_ref:
            return float("nan")
        return self.pred_detected / self.n_pred if self.n_pred else 0.0

    @property
    def f1(self) -> float:
        """``2PR / (P + R)``; 0 when both are 0, NaN without reference lesion."""
        p, r = self.precision, self.recall
        if math.isnan(p):
            return float("nan")
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


def lesion_detection(
    pred: Any,
    ref: Any,
    spacing: Sequence[float] | None = None,
    *,
    min_lesion_mm3: float = 3.0,
    alpha: float = 0.10,
    beta: float = 0.70,
    gamma: float = 0.65,
    connectivity: int = 6,
) -> LesionDetection:
    """Lesion-wise detection of ``pred`` against ``ref`` by the MSSEG-2 rule (module docstring).

    Args:
        pred, ref: boolean 3D masks of equal shape.
        spacing: voxel size (mm) per axis.
        min_lesion_mm3, alpha, beta, gamma, connectivity: the rule's parameters.

    Returns:
        :class:`LesionDetection` (counts, false-positive volume in mm^3, precision, recall, F1).

    Example:
        >>> ref = np.zeros((1, 12, 12), bool); ref[0, 1:4, 1:4] = True; ref[0, 7:10, 7:10] = True
        >>> pred = np.zeros_like(ref); pred[0, 1:4, 1:4] = True
        >>> result = lesion_detection(pred, ref)
        >>> result.recall, result.precision, round(result.f1, 4)
        (0.5, 1.0, 0.6667)
    """
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if not (isinstance(value, (int, float)) and 0 <= value <= 1):
            raise ValueError(f"`{name}` must be in [0, 1], got {value!r}")
    pred, ref, sp = check_masks(pred, ref, spacing)
    box = union_box(pred, ref, margin=0)
    if box is None:
        return LesionDetection(0, 0, 0, 0, 0.0)
    ref_labels, n_ref = label_lesions(
        ref[box], sp, min_lesion_mm3=min_lesion_mm3, connectivity=connectivity
    )
    pred_labels, n_pred = label_lesions(
        pred[box], sp, min_lesion_mm3=min_lesion_mm3, connectivity=connectivity
    )
    pairs = ref_labels.ravel().astype(np.int64) * (n_pred + 1) + pred_labels.ravel()
    counts = np.bincount(pairs, minlength=(n_ref + 1) * (n_pred + 1)).reshape(n_ref + 1, -1)
    overlap, size_ref, size_pred = counts[1:, 1:], counts[1:].sum(1), counts[:, 1:].sum(0)
    ref_hit = detected(overlap, size_ref, size_pred, alpha, beta, gamma)
    pred_hit = detected(overlap.T, size_pred, size_ref, alpha, beta, gamma)
    voxel_mm3 = float(np.prod(sp))
    return LesionDetection(
        n_ref=n_ref,
        n_pred=n_pred,
        ref_detected=int(ref_hit.sum()),
        pred_detected=int(pred_hit.sum()),
        fp_volume_mm3=float(size_pred[~pred_hit].sum()) * voxel_mm3,
    )
