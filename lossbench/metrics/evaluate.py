"""Every metric of one case in one call. The masks are checked once, listed as voxels once
(:func:`~lossbench.metrics._masks.mask_voxels`), their borders found once (for the distances
and the surface Dice) and their lesions labelled once; every metric reads those."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lossbench.metrics._masks import check_masks, mask_voxels
from lossbench.metrics.lesions import _check_rule, _detection
from lossbench.metrics.overlap import ratio
from lossbench.metrics.surface import _border, _check_tolerance, _distances, _nsd

__all__ = ["METRIC_KEYS", "evaluate_case"]

METRIC_KEYS = (
    "dice",
    "jaccard",
    "precision",
    "recall",
    "hd",
    "hd95",
    "asd",
    "assd",
    "nsd",
    "lesion_precision",
    "lesion_recall",
    "lesion_f1",
    "n_ref_lesions",
    "n_pred_lesions",
    "n_fp_lesions",
    "fp_volume_mm3",
    "ref_volume_mm3",
    "pred_volume_mm3",
    "ref_empty",
    "pred_empty",
    "diagonal_mm",
)
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
    _check_rule(min_lesion_mm3, alpha, beta, gamma, connectivity)
    _check_tolerance(nsd_tolerance_mm)
    voxel_mm3 = float(np.prod(sp))
    diagonal_mm = float(np.sqrt(np.sum((np.asarray(pred.shape) * np.asarray(sp)) ** 2)))
    pred_voxels, ref_voxels = mask_voxels(pred, ref)
    n_pred, n_ref = pred_voxels.index.size, ref_voxels.index.size
    ref_in_pred = pred_voxels.position(ref_voxels.index)
    tp = int(np.count_nonzero(ref_in_pred >= 0))
    fp, fn = n_pred - tp, n_ref - tp
    both_empty = n_pred + n_ref == 0
    pred_border, ref_border = _border(pred_voxels), _border(ref_voxels)
    if n_pred and n_ref:
        dist = _distances(pred_voxels, pred_border, ref_voxels, ref_border, sp)
        distances = {"hd": dist.hd, "hd95": dist.hd95, "asd": dist.asd, "assd": dist.assd}
    else:
        distances = dict.fromkeys(("hd", "hd95", "asd", "assd"), 0.0 if both_empty else np.nan)
    lesions = _detection(
        pred_voxels,
        ref_voxels,
        ref_in_pred,
        sp,
        min_lesion_mm3=min_lesion_mm3,
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        connectivity=connectivity,
    )
    result: dict[str, float | int | bool] = {
        "dice": ratio(2 * tp, 2 * tp + fp + fn, both_empty),
        "jaccard": ratio(tp, tp + fp + fn, both_empty),
        "precision": ratio(tp, n_pred, both_empty),
        "recall": ratio(tp, n_ref, both_empty),
        **distances,
        "nsd": _nsd(pred_voxels, pred_border, ref_voxels, ref_border, sp, nsd_tolerance_mm),
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
