"""Regions of lesions: where a lesion lies, given an integer map of region codes (a location
class map made from a tissue map, for example), read from the voxels the lesion-wise pass has
already labelled."""

from __future__ import annotations

import numpy as np

from lossbench.metrics._masks import Voxels

__all__ = ["check_regions", "lesion_regions"]


def check_regions(regions: np.ndarray | None, shape: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless ``regions`` is None or an integer map of ``shape`` with
    codes >= 0."""
    if regions is None:
        return
    if np.shape(regions) != shape or np.asarray(regions).dtype.kind not in "iub":
        raise ValueError(
            f"`regions` must be an integer map of the masks' shape {shape}, got "
            f"{np.asarray(regions).dtype} of shape {np.shape(regions)}"
        )
    if np.asarray(regions).min(initial=0) < 0:
        raise ValueError("`regions` must hold codes >= 0 (0: no region)")


def lesion_regions(
    voxels: Voxels, lesion: np.ndarray, n: int, regions: np.ndarray | None
) -> np.ndarray:
    """Each lesion's lowest nonzero region code among its voxels (0: in no region, or no map).

    Args:
        voxels: a mask's voxels (:func:`lossbench.metrics._masks.mask_voxels`).
        lesion: int (len(voxels.index),) the lesion of each voxel, 1..n (0: a dropped one).
        n: the number of lesions.
        regions: int map of the mask's array shape, or None.

    Returns:
        int64 (n,).

    Example:
        >>> from lossbench.metrics._masks import mask_voxels
        >>> mask = np.zeros((1, 1, 6), bool); mask[0, 0, [0, 1, 4]] = True
        >>> regions = np.array([[[0, 2, 1, 1, 3, 3]]])
        >>> (voxels,) = mask_voxels(mask)
        >>> lesion_regions(voxels, np.array([1, 1, 2]), 2, regions).tolist()
        [2, 3]
    """
    if regions is None or n == 0:
        return np.zeros(n, np.int64)
    kept = lesion > 0
    points = voxels.points(voxels.index[kept]) + voxels.start
    codes = np.asarray(regions)[tuple(points.T)].astype(np.int64)
    none = np.iinfo(np.int64).max
    lowest = np.full(n, none)
    np.minimum.at(lowest, lesion[kept] - 1, np.where(codes > 0, codes, none))
    return np.where(lowest < none, lowest, 0)
