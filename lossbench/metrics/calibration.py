"""Calibration of a probability map: the expected calibration error (ECE), the Brier score and
the bins of a reliability diagram, over the voxels of a mask (the brain).

Bins are equal-width over [0, 1]: bin b of B holds the voxels with b / B <= p < (b + 1) / B,
the last one p = 1 too. ECE = sum over bins of n_b / N * |mean p in b - lesion share in b|,
Brier = mean of (p - y)^2, both over the N voxels of the mask.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["RELIABILITY_BINS", "Calibration", "calibration"]

RELIABILITY_BINS = 15
"""The default number of equal-width bins of the ECE and the reliability diagram."""


class Calibration(NamedTuple):
    """A case's calibration.

    Attributes:
        ece: expected calibration error, in [0, 1] (NaN for an empty mask).
        brier: Brier score, in [0, 1] (NaN for an empty mask).
        voxels: int (bins,) voxels per bin.
        prob_sum: float (bins,) sum of the probabilities in each bin.
        lesion_sum: int (bins,) lesion voxels in each bin.
    """

    ece: float
    brier: float
    voxels: np.ndarray
    prob_sum: np.ndarray
    lesion_sum: np.ndarray


def calibration(
    prob: Any, ref: Any, mask: Any = None, n_bins: int = RELIABILITY_BINS
) -> Calibration:
    """ECE, Brier score and reliability bins of a probability map against a reference mask.

    Args:
        prob: float 3D map of lesion probabilities in [0, 1].
        ref: boolean 3D reference mask of the same shape.
        mask: boolean 3D mask of the voxels scored (the brain), or None for every voxel.
        n_bins: equal-width bins over [0, 1], >= 1.

    Returns:
        :class:`Calibration`; the bins sum over the masked voxels, so cases pool by adding them.

    Raises:
        ValueError: shapes differ, a probability outside [0, 1] or not finite, ``n_bins`` < 1.

    Example:
        >>> ref = np.zeros((2, 2, 2), bool); ref[0, 0, :] = True  # 2 lesion voxels of 8
        >>> c = calibration(np.full((2, 2, 2), 0.5), ref)
        >>> c.ece, c.brier, int(c.voxels[7])  # |0.5 - 2/8|; (p - y)^2 is 0.25 everywhere
        (0.25, 0.25, 8)
    """
    if not (isinstance(n_bins, int) and n_bins >= 1):
        raise ValueError(f"`n_bins` must be an integer >= 1, got {n_bins!r}")
    p = np.asarray(prob, dtype=np.float64)
    y = np.asarray(ref).astype(bool)
    keep = np.ones(p.shape, bool) if mask is None else np.asarray(mask).astype(bool)
    if not (p.shape == y.shape == keep.shape):
        raise ValueError(
            f"`prob`, `ref` and `mask` must have one shape, got {p.shape}, {y.shape} and "
            f"{keep.shape}"
        )
    p, y = p[keep], y[keep]
    bad = ~((p >= 0) & (p <= 1))
    if bad.any():
        raise ValueError(
            f"`prob` must hold probabilities in [0, 1]: {int(bad.sum())} voxel(s) do not "
            f"(first {p[bad][0]!r})"
        )
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    voxels = np.bincount(bins, minlength=n_bins)
    prob_sum = np.bincount(bins, weights=p, minlength=n_bins)
    lesion_sum = np.bincount(bins, weights=y, minlength=n_bins).astype(np.int64)
    if p.size == 0:
        return Calibration(float("nan"), float("nan"), voxels, prob_sum, lesion_sum)
    ece = float(np.abs(prob_sum - lesion_sum).sum() / p.size)
    brier = float(np.mean((p - y) ** 2))
    return Calibration(ece, brier, voxels, prob_sum, lesion_sum)
