"""Every metric of one case in one call, sharing the crop, the counts and the distances."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lossbench.metrics._masks import check_masks, union_box
from lossbench.metrics.lesions import lesion_detection
from lossbench.metrics.overlap import overlap_counts, ratio
from lossbench.metrics.surface import nsd, surface_distances

__all__ = ["METRIC_KEYS", "evaluate_case"]

METRIC_KEYS = (
    "dice", "jaccard", "precision", "recall", "hd", "hd95", "asd", "assd", "nsd",
    "lesion_precision", "lesion_recall", "lesion_f1", "n_ref_lesions", "n_pred_lesions",
    "n_fp_lesions", "fp_volume_mm3", "ref_volume_mm3", "pred_volume_mm3", "ref_empty", "pred_empty",
    "diagonal_mm",
)  # fmt: skip
"""The keys of :func:`evaluate_case`, in order."""


def evaluate_case(
    pred: Any,
    ref: Any,
    spacing: Sequence[float] | None = None,
    *,
    nsd_tolerance_mm: float = 1.0,
    min_lesion_mm3: float = 3.0,
    alpha: float = 0.10,
    beta: float = 0.70,
    gamma: float = 0.65,
    connectivity: int = 6,
) -> dict[str, float | int | bool]:
    """All per-case metrics of a predicted mask against a reference mask.

    Overlap (``dice``, ``jaccard``, ``precision``, ``recall``): voxel-wise, 1 when both masks are
    empty. Distances (``hd``, ``hd95``, ``asd``, ``assd``; mm, MedPy 0.5's definitions): 0 when
    both are empty, NaN when exactly one is. ``nsd``: surface Dice at ``nsd_tolerance_mm``.
    Lesion-wise (``lesion_*``, ``n_*``, ``fp_volume_mm3``): the MSSEG-2 rule of
    :mod:`lossbench.metrics.lesions`; precision, recall and F1 are NaN when the reference mask is
    empty (score such cases by ``n_fp_lesions`` and ``fp_volume_mm3``); when it has voxels but
    every lesion is below the size limit, precision and F1 are 0 and recall NaN, as in
    animaSegPerfAnalyzer. Volumes in mm^3 are of the masks as given (before the size limit).
    ``diagonal_mm`` is the diagonal of the image extent, sqrt(sum((shape * spacing)^2)): no
    distance inside the image can exceed it, so the statistics use it as the worst distance of a
    case where exactly one mask is empty.

    Args:
        pred, ref: boolean 3D masks of equal shape.
        spacing: voxel size (mm) per array axis.
        nsd_tolerance_mm: tolerance of the surface Dice.
        min_lesion_mm3, alpha, beta, gamma, connectivity: the lesion-detection rule.

    Returns:
        dict with exactly the keys of :data:`METRIC_KEYS`.

    Example:
        >>> ref = np.zeros((8, 8, 8), bool); ref[2:5, 2:5, 2:5] = True
        >>> pred = np.zeros_like(ref); pred[2:5, 2:5, 3:6] = True
        >>> m = evaluate_case(pred, ref, (1.0, 1.0, 1.0))
        >>> round(m["dice"], 4), m["hd"], m["n_ref_lesions"], m["lesion_f1"]
        (0.6667, 1.0, 1, 1.0)
        >>> round(m["diagonal_mm"], 2)  # sqrt(3 * 8^2)
        13.86
    """
    pred, ref, sp = check_masks(pred, ref, spacing)
    voxel_mm3 = float(np.prod(sp))
    diagonal_mm = float(np.sqrt(np.sum((np.asarray(pred.shape) * np.asarray(sp)) ** 2)))
    box = union_box(pred, ref)
    if box is not None:
        pred, ref = pred[box], ref[box]
    tp, fp, fn = overlap_counts(pred, ref)
    n_pred, n_ref = tp + fp, tp + fn
    both_empty = n_pred + n_ref == 0
    if n_pred and n_ref:
        dist = surface_distances(pred, ref, sp)
        distances = {"hd": dist.hd, "hd95": dist.hd95, "asd": dist.asd, "assd": dist.assd}
    else:
        distances = dict.fromkeys(("hd", "hd95", "asd", "assd"), 0.0 if both_empty else np.nan)
    lesions = lesion_detection(
        pred, ref, sp, min_lesion_mm3=min_lesion_mm3, alpha=alpha, beta=beta, gamma=gamma,
        connectivity=connectivity,
    )  # fmt: skip
    result: dict[str, float | int | bool] = {
        "dice": ratio(2 * tp, 2 * tp + fp + fn, both_empty),
        "jaccard": ratio(tp, tp + fp + fn, both_empty),
        "precision": ratio(tp, n_pred, both_empty),
        "recall": ratio(tp, n_ref, both_empty),
        **distances,
        "nsd": nsd(pred, ref, sp, tolerance_mm=nsd_tolerance_mm),
        "lesion_precision": lesions.precision,
        "lesion_recall": lesions.recall,
        "lesion_f1": lesions.f1,
        "n_ref_lesions": lesions.n_ref,
        "n_pred_lesions": lesions.n_pred,
        "n_fp_lesions": lesions.n_fp,
        "fp_volume_mm3": lesions.fp_volume_mm3,
        "ref_volume_mm3": n_ref * voxel_mm3,
        "pred_volume_mm3": n_pred * voxel_mm3,
        "ref_empty": n_ref == 0,
        "pred_empty": n_pred == 0,
        "diagonal_mm": diagonal_mm,
    }
    return result
