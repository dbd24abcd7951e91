"""Input checks and the union crop shared by every metric."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lossbench._geometry import bounding_box

__all__ = ["check_masks", "union_box"]


def _as_mask(name: str, array: Any) -> np.ndarray:
    mask = np.asarray(array)
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.integer):
        values = np.unique(mask)
        bad = values[(values != 0) & (values != 1)]
        if bad.size:
            raise ValueError(
                f"`{name}` must be a binary mask, but its integer values include {bad[0]} "
                f"(values found: {values[:6].tolist()})"
            )
        return mask.astype(bool)
    if np.issubdtype(mask.dtype, np.floating):
        raise TypeError(
            f"`{name}` is a {mask.dtype} array; metrics take binary masks: threshold first, "
            f"e.g. `{name} > 0.5`"
        )
    raise TypeError(f"`{name}` must be a boolean or 0/1 integer array, got dtype {mask.dtype}")


def check_masks(
    pred: Any, ref: Any, spacing: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Validate a prediction/reference pair and its voxel spacing.

    Args:
        pred, ref: boolean (or 0/1 integer) 3D arrays of equal shape.
        spacing: voxel size in mm per array axis; ``None`` means 1 mm.

    Returns:
        ``(pred, ref, spacing)`` as boolean arrays and a tuple of three floats.

    Raises:
        ValueError: shapes differ, not 3D, non-binary integer values, bad spacing.
        TypeError: float (or other non-binary) dtype.

    Example:
        >>> p, r, s = check_masks(np.zeros((2, 2, 2), int), np.ones((2, 2, 2), bool), (1, 1, 2))
        >>> p.dtype, s
        (dtype('bool'), (1.0, 1.0, 2.0))
    """
    pred, ref = _as_mask("pred", pred), _as_mask("ref", ref)
    if pred.shape != ref.shape:
        raise ValueError(
            f"`pred` and `ref` must have the same shape, got {pred.shape} and {ref.shape}"
        )
    if pred.ndim != 3:
        raise ValueError(f"masks must be 3D, got shape {pred.shape}")
    if spacing is None:
        spacing = (1.0, 1.0, 1.0)
    try:
        values = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise ValueError(f"`spacing` must be 3 positive numbers (mm), got {spacing!r}") from None
    if len(values) != 3 or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"`spacing` must be 3 positive numbers (mm), got {spacing!r}")
    return pred, ref, values


def union_box(pred: np.ndarray, ref: np.ndarray, margin: int = 1) -> tuple[slice, ...] | None:
    """Slices of the bounding box of ``pred | ref`` grown by ``margin`` voxels (clipped).

    Every foreground voxel, every border voxel and every connected component of either mask lies
    inside it, and with ``margin >= 1`` a binary erosion in the box equals the erosion of the
    whole array; so metrics computed on the crop are exact. ``None`` when both masks are empty.

    Example:
        >>> m = np.zeros((5, 5, 5), bool); m[2, 2, 2] = True
        >>> union_box(m, m)
        (slice(1, 4, None), slice(1, 4, None), slice(1, 4, None))
    """
    return bounding_box(pred | ref, margin)
