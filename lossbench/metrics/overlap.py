"""Voxel-wise overlap metrics.

Empty-mask policy: when both masks are empty every overlap metric is 1 (a correct "no lesion");
otherwise 0/0 counts as 0 (e.g. precision of an empty prediction against a lesion).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lossbench.metrics._masks import check_masks

__all__ = ["dice", "jaccard", "overlap_counts", "precision", "recall"]


def overlap_counts(pred: np.ndarray, ref: np.ndarray) -> tuple[int, int, int]:
    """``(TP, FP, FN)`` voxel counts of two boolean masks of equal shape.

    Example:
        >>> overlap_counts(np.array([1, 1, 0], bool), np.array([1, 0, 1], bool))
        (1, 1, 1)
    """
    tp = int(np.count_nonzero(pred & ref))
    return tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(ref)) - tp


def ratio(numerator: int, denominator: int, both_empty: bool) -> float:
    """``numerator / denominator`` under the empty-mask policy: 1 if both masks are empty, 0 for
    0/0 otherwise.

    Example:
        >>> ratio(0, 0, both_empty=True), ratio(0, 0, both_empty=False), ratio(1, 4, False)
        (1.0, 0.0, 0.25)
    """
    if both_empty:
        return 1.0
    return numerator / denominator if denominator else 0.0


def _counts(pred: Any, ref: Any) -> tuple[int, int, int, bool]:
    pred, ref, _ = check_masks(pred, ref)
    tp, fp, fn = overlap_counts(pred, ref)
    return tp, fp, fn, tp + fp + fn == 0


def dice(pred: Any, ref: Any) -> float:
    """Dice coefficient ``2TP / (2TP + FP + FN)``; 1 when both masks are empty.

    Args:
        pred, ref: boolean 3D masks of equal shape.

    Returns:
        Unitless, in [0, 1].

    Example:
        >>> a = np.zeros((2, 2, 2), bool); a[0] = True
        >>> b = np.zeros((2, 2, 2), bool); b[0, 0] = True
        >>> round(dice(a, b), 4)
        0.6667
    """
    tp, fp, fn, empty = _counts(pred, ref)
    return ratio(2 * tp, 2 * tp + fp + fn, empty)


def jaccard(pred: Any, ref: Any) -> float:
    """Jaccard index ``TP / (TP + FP + FN)``; 1 when both masks are empty.

    Example:
        >>> a = np.zeros((2, 2, 2), bool); a[0] = True
        >>> b = np.zeros((2, 2, 2), bool); b[0, 0] = True
        >>> jaccard(a, b)
        0.5
    """
    tp, fp, fn, empty = _counts(pred, ref)
    return ratio(tp, tp + fp + fn, empty)


def precision(pred: Any, ref: Any) -> float:
    """Voxel-wise precision ``TP / (TP + FP)``; 0 for an empty prediction (unless both empty).

    Example:
        >>> a = np.zeros((2, 2, 2), bool); a[0] = True
        >>> b = np.zeros((2, 2, 2), bool); b[0, 0] = True
        >>> precision(a, b), precision(b, a)
        (0.5, 1.0)
    """
    tp, fp, _, empty = _counts(pred, ref)
    return ratio(tp, tp + fp, empty)


def recall(pred: Any, ref: Any) -> float:
    """Voxel-wise recall (sensitivity) ``TP / (TP + FN)``; an empty reference with a non-empty
    prediction gives 0/0, counted as 0.

    Example:
        >>> a = np.zeros((2, 2, 2), bool); a[0] = True
        >>> b = np.zeros((2, 2, 2), bool); b[0, 0] = True
        >>> recall(a, b), recall(b, a)
        (1.0, 0.5)
    """
    tp, _, fn, empty = _counts(pred, ref)
    return ratio(tp, tp + fn, empty)
