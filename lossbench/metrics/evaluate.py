"""Every metric of one case in one call. The masks are checked once, listed as voxels once
(:func:`~lossbench.metrics._masks.mask_voxels`), their borders found once (for the distances
and the surface Dice) and their lesions labelled once; every metric reads those.

What :func:`evaluate_case` returns. Overlap (``dice``, ``jaccard``, ``precision``, ``recall``):
voxel-wise, 1 when both masks are empty. Distances (``hd``, ``hd95``, ``asd``, ``assd``; mm,
MedPy 0.5's definitions): 0 when both are empty, NaN when exactly one is. ``nsd``: surface Dice at
``nsd_tolerance_mm``. Lesion-wise (``lesion_*``, ``n_*``, ``fp_volume_mm3``): the MSSEG-2 rule of
:mod:`lossbench.metrics.lesions`; precision, recall and F1 are NaN when the reference mask is
empty (score such cases by ``n_fp_lesions`` and ``fp_volume_mm3``); when it has voxels but every
lesion is below the size limit, precision and F1 are 0 and recall NaN, as in
animaSegPerfAnalyzer. Volumes in mm^3 are of the masks as given (before the size limit).
``diagonal_mm`` is the diagonal of the image extent, sqrt(sum((shape * spacing)^2)): no distance
inside the image can exceed it, so the statistics use it as the worst distance of a case where
exactly one mask is empty.

:func:`evaluate_case_lesions` returns the same metrics and one row per kept lesion of either
mask (:data:`LESION_KEYS`), from the same labelling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lossbench.metrics._masks import Voxels, check_masks, mask_voxels
from lossbench.metrics.lesions import LesionDetection, check_rule, voxel_detection
from lossbench.metrics.overlap import ratio
from lossbench.metrics.regions import check_regions
from lossbench.metrics.surface import border_indices, check_tolerance, voxel_distances, voxel_nsd

__all__ = ["LESION_KEYS", "METRIC_KEYS", "evaluate_case", "evaluate_case_lesions"]

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

LESION_KEYS = ("side", "lesion", "volume_mm3", "detected", "location")
"""The keys of a lesion row of :func:`evaluate_case_lesions`: ``side`` ``"ref"`` or
``"pred"``; ``lesion`` its number (anima's, 1 the largest); ``volume_mm3``; ``detected`` under
anima's rule (a reference lesion found by the prediction; a predicted lesion confirmed by the
reference, so a true positive); ``location`` its region's name ("" in none; the key only when
region names are given)."""

_Scores = dict[str, float | int | bool]


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
    """All per-case metrics of a predicted mask against a reference mask (the module docstring
    says what each is, and what it is for empty masks).

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
    return evaluate_case_lesions(
        pred,
        ref,
        spacing,
        nsd_tolerance_mm=nsd_tolerance_mm,
        min_lesion_mm3=min_lesion_mm3,
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        connectivity=connectivity,
    )[0]


def evaluate_case_lesions(
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
    regions: np.ndarray | None = None,
    region_names: Sequence[str] = (),
) -> tuple[dict[str, float | int | bool], list[dict[str, Any]]]:
    """:func:`evaluate_case`'s metrics and a row per kept lesion of ``ref`` and of ``pred``,
    from one labelling of each mask (the rows are the lesions that lesion F1 counts).

    Args:
        pred, ref, spacing, nsd_tolerance_mm, min_lesion_mm3, alpha, beta, gamma, connectivity:
            as for :func:`evaluate_case`.
        regions: optional int map of the masks' shape: region codes 1, 2, ... in order of
            precedence (0: none); a lesion lies in the lowest code among its voxels.
        region_names: code k's name at position k - 1; with names, rows have ``location``.

    Returns:
        ``(metrics, lesions)``: the dict of :func:`evaluate_case`, and the reference lesions
        then the predicted ones, each a dict with the keys of :data:`LESION_KEYS`.

    Example:
        >>> ref = np.zeros((8, 8, 8), bool); ref[1:3, 1:3, 1:3] = True; ref[5:8, 5:8, 5:8] = True
        >>> pred = np.zeros_like(ref); pred[5:8, 5:8, 5:8] = True
        >>> regions = np.ones(ref.shape, int); regions[4:] = 2
        >>> _, rows = evaluate_case_lesions(pred, ref, (1, 1, 1), regions=regions,
        ...                                 region_names=("front", "back"))
        >>> for r in rows:
        ...     print(r["side"], r["lesion"], r["volume_mm3"], r["detected"], r["location"])
        ref 1 27.0 True back
        ref 2 8.0 False front
        pred 1 27.0 True back
    """
    pred, ref, sp = check_masks(pred, ref, spacing)
    check_rule(min_lesion_mm3, alpha, beta, gamma, connectivity)
    check_tolerance(nsd_tolerance_mm)
    check_regions(regions, pred.shape)
    pred_voxels, ref_voxels = mask_voxels(pred, ref)
    ref_in_pred = pred_voxels.position(ref_voxels.index)
    rule = (min_lesion_mm3, alpha, beta, gamma, connectivity)
    lesions = voxel_detection(pred_voxels, ref_voxels, ref_in_pred, sp, rule, regions)
    metrics = {
        **_overlap(pred_voxels, ref_voxels, ref_in_pred),
        **_surface(pred_voxels, ref_voxels, sp, nsd_tolerance_mm),
        **_lesion_scores(lesions),
        **_volumes(pred_voxels, ref_voxels, sp, pred.shape),
    }
    return metrics, _lesion_rows(lesions, region_names)


def _lesion_rows(lesions: LesionDetection, region_names: Sequence[str]) -> list[dict[str, Any]]:
    """One row per kept lesion, the reference's then the prediction's."""
    rows: list[dict[str, Any]] = []
    for side, found in (("ref", lesions.ref_lesions), ("pred", lesions.pred_lesions)):
        for k, (volume, hit, code) in enumerate(
            zip(found.volumes_mm3, found.detected, found.region, strict=True)
        ):
            row = {"side": side, "lesion": k + 1, "volume_mm3": float(volume)}
            row["detected"] = bool(hit)
            if region_names:
                row["location"] = region_names[code - 1] if code > 0 else ""
            rows.append(row)
    return rows


def _overlap(pred: Voxels, ref: Voxels, ref_in_pred: np.ndarray) -> _Scores:
    """``dice``, ``jaccard``, ``precision`` and ``recall`` of two masks listed together."""
    n_pred, n_ref = pred.index.size, ref.index.size
    tp = int(np.count_nonzero(ref_in_pred >= 0))
    fp, fn = n_pred - tp, n_ref - tp
    both_empty = n_pred + n_ref == 0
    return {
        "dice": ratio(2 * tp, 2 * tp + fp + fn, both_empty),
        "jaccard": ratio(tp, tp + fp + fn, both_empty),
        "precision": ratio(tp, n_pred, both_empty),
        "recall": ratio(tp, n_ref, both_empty),
    }


def _surface(
    pred: Voxels, ref: Voxels, spacing: tuple[float, float, float], tolerance_mm: float
) -> _Scores:
    """``hd``, ``hd95``, ``asd``, ``assd`` and ``nsd``, from the borders found once."""
    pred_border, ref_border = border_indices(pred), border_indices(ref)
    distances: _Scores
    if pred.index.size and ref.index.size:
        dist = voxel_distances(pred, pred_border, ref, ref_border, spacing)
        distances = {"hd": dist.hd, "hd95": dist.hd95, "asd": dist.asd, "assd": dist.assd}
    else:
        both_empty = pred.index.size + ref.index.size == 0
        distances = dict.fromkeys(("hd", "hd95", "asd", "assd"), 0.0 if both_empty else np.nan)
    nsd = voxel_nsd(pred, pred_border, ref, ref_border, spacing, tolerance_mm)
    return {**distances, "nsd": nsd}


def _lesion_scores(lesions: LesionDetection) -> _Scores:
    """The lesion-wise columns of a case's detection."""
    return {
        "lesion_precision": lesions.precision,
        "lesion_recall": lesions.recall,
        "lesion_f1": lesions.f1,
        "n_ref_lesions": lesions.n_ref,
        "n_pred_lesions": lesions.n_pred,
        "n_fp_lesions": lesions.n_fp,
        "fp_volume_mm3": lesions.fp_volume_mm3,
    }


def _volumes(
    pred: Voxels, ref: Voxels, spacing: tuple[float, float, float], shape: tuple[int, ...]
) -> _Scores:
    """The masks' volumes (mm^3) and emptiness, and the image's diagonal (mm)."""
    voxel_mm3 = float(np.prod(spacing))
    n_pred, n_ref = pred.index.size, ref.index.size
    diagonal_mm = float(np.sqrt(np.sum((np.asarray(shape) * np.asarray(spacing)) ** 2)))
    return {
        "ref_volume_mm3": n_ref * voxel_mm3,
        "pred_volume_mm3": n_pred * voxel_mm3,
        "ref_empty": n_ref == 0,
        "pred_empty": n_pred == 0,
        "diagonal_mm": diagonal_mm,
    }
