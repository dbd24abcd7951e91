"""Array geometry shared by the data and metric modules."""

from __future__ import annotations

import numpy as np

__all__ = ["bounding_box", "open_grid", "smooth_field"]


def open_grid(ranges: list[np.ndarray]) -> list[np.ndarray]:
    """Open grid: each 1D coordinate array reshaped to broadcast along its own axis.

    Example:
        >>> [g.shape for g in open_grid([np.arange(2), np.arange(3)])]
        [(2, 1), (1, 3)]
    """
    return [
        r.reshape([-1 if i == a else 1 for i in range(len(ranges))]) for a, r in enumerate(ranges)
    ]


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], cells: int) -> np.ndarray:
    """Smooth random field in about [-1, 1] of ``shape``: ``cells`` Gaussian values per axis
    zoomed up with cubic splines.

    Example:
        >>> smooth_field(np.random.default_rng(0), (8, 6), 3).shape
        (8, 6)
    """
    from scipy import ndimage

    coarse = rng.standard_normal((cells,) * len(shape))
    fine = ndimage.zoom(coarse, [s / cells for s in shape], order=3, mode="nearest")
    return fine[tuple(slice(0, s) for s in shape)] / 1.5


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
