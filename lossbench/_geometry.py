"""Array geometry shared by the data and metric modules."""

from __future__ import annotations

import numpy as np

__all__ = ["bounding_box"]


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, ...] | None:
    """Slices of the bounding box of a boolean mask grown by ``margin`` voxels (clipped to the
    array); ``None`` when the mask is empty.

    Example:
        >>> m = np.zeros((5, 6), bool); m[2, 3] = True
        >>> bounding_box(m, margin=1)
        (slice(1, 4, None), slice(2, 5, None))
    """
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other))
        if hits.size == 0:
            return None
        start = max(int(hits[0]) - margin, 0)
        box.append(slice(start, min(int(hits[-1]) + 1 + margin, mask.shape[axis])))
    return tuple(box)
