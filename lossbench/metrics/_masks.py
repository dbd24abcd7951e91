"""Input checks and the voxel lists shared by every metric."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Voxels", "check_masks", "mask_voxels"]


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


@dataclass(frozen=True)
class Voxels:
    """The voxels of a 3D mask as a sorted list: what the surface and lesion metrics read, so
    that their cost follows the lesions, not the size of the volume.

    The voxels lie in a box of the array (``start`` on); flat indices count in that box grown by
    one voxel on every side, so each neighbour (face, edge or corner) of a voxel has a flat index
    and ``index + step`` needs no bounds check. Masks listed together (:func:`mask_voxels`)
    share the box, so their flat indices compare directly.

    Attributes:
        index: flat indices of the mask's voxels, increasing (C order), shape (n,).
        shape: the grown box's shape (each axis 2 longer than the box's).
        strides: the flat-index step of one voxel along each axis, shape (3,).
        start: where the box starts in the array, shape (3,).

    Example:
        >>> m = np.zeros((5, 6, 7), bool); m[1, 2, 3] = m[1, 2, 4] = True
        >>> (v,) = mask_voxels(m)
        >>> v.shape, v.strides.tolist(), v.start.tolist(), v.points(v.index).tolist()
        ((5, 5, 6), [30, 6, 1], [0, 1, 2], [[1, 1, 1], [1, 1, 2]])
        >>> v.position(v.index + 1).tolist()  # the voxel after each one in C order
        [1, -1]
    """

    index: np.ndarray
    shape: tuple[int, ...]
    strides: np.ndarray
    start: np.ndarray

    def position(self, index: np.ndarray) -> np.ndarray:
        """Where each flat index of ``index`` (n,) stands in :attr:`index`; -1 for one that is
        not a voxel of the mask. A binary search: O(n log(voxels))."""
        pos = np.searchsorted(self.index, index)
        found = pos < self.index.size
        found[found] = self.index[pos[found]] == index[found]
        return np.where(found, pos, -1)

    def points(self, index: np.ndarray) -> np.ndarray:
        """Voxel indices (n, 3) in the box (not the grown box) of flat indices ``index`` (n,)."""
        return np.stack(np.unravel_index(index, self.shape), axis=1) - 1


def mask_voxels(*masks: np.ndarray) -> tuple[Voxels, ...]:
    """:class:`Voxels` of boolean 3D masks of one shape, in one box: the bounding box of all
    their voxels grown by one voxel (clipped to the array), where an erosion equals the
    erosion of the whole array; so metrics computed there are exact.

    Example:
        >>> a = np.zeros((9, 9, 9), bool); a[4, 4, 4:6] = True
        >>> pred, ref = mask_voxels(a, np.zeros_like(a))
        >>> pred.start.tolist(), pred.shape, pred.index.size, ref.index.size
        ([3, 3, 3], (5, 5, 6), 2, 0)
    """
    shape = np.array(np.shape(masks[0]))
    points = [np.stack(np.unravel_index(np.flatnonzero(m), np.shape(m)), axis=1) for m in masks]
    every = np.concatenate(points)
    if every.size:
        start = np.maximum(every.min(axis=0) - 1, 0)
        stop = np.minimum(every.max(axis=0) + 2, shape)
    else:
        start = stop = np.zeros(3, dtype=int)
    grown = (*(int(n) for n in stop - start + 2),)
    strides = np.array([grown[1] * grown[2], grown[2], 1])
    return tuple(Voxels((p - start + 1) @ strides, grown, strides, start) for p in points)
