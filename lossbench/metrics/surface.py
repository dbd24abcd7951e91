"""Surface-distance metrics, identical to MedPy 0.5's, computed from the masks' voxel lists.

Border of a mask: the voxels that one binary erosion with the face-connected structure removes
(the array edge counts as outside). Distances are Euclidean, in mm (``spacing`` per array axis),
from each border voxel of one mask to the nearest border voxel of the other.
Empty-mask policy: both masks empty: every distance 0 (and ``nsd`` 1); exactly one empty: every
distance NaN (``nsd`` 0).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from lossbench.metrics._masks import Voxels, check_masks, mask_voxels

__all__ = [
    "SurfaceDistances",
    "asd",
    "assd",
    "border",
    "border_points",
    "hd",
    "hd95",
    "nsd",
    "surface_distances",
]


_FACES = np.array([(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1)])


def border_indices(voxels: Voxels) -> np.ndarray:
    """Flat indices of the border voxels (those with a face-neighbour outside the mask),
    increasing. Only the mask's own voxels are visited, so the cost follows the lesions, not
    the volume."""
    interior = np.ones(voxels.index.shape, bool)
    for step in _FACES @ voxels.strides:
        interior &= voxels.position(voxels.index + step) >= 0
    return voxels.index[~interior]


def border_points(mask: np.ndarray) -> np.ndarray:
    """Indices (n, 3) of the border voxels of a 3D ``mask``: its voxels with a face-neighbour
    outside it (the array edge counts as outside), in C order.

    Example:
        >>> m = np.zeros((3, 3, 4), bool); m[:, :, 1:] = True
        >>> len(border_points(m)), len(border_points(np.ones((3, 3, 3), bool)))
        (26, 26)
    """
    (voxels,) = mask_voxels(mask)
    return voxels.points(border_indices(voxels)) + voxels.start


def border(mask: np.ndarray) -> np.ndarray:
    """Border voxels: ``mask`` minus its erosion by the face-connected structure.

    Example:
        >>> m = np.ones((3, 3, 3), bool)
        >>> int(border(m).sum())  # every voxel but the centre touches the outside
        26
    """
    out = np.zeros(mask.shape, bool)
    out[tuple(border_points(mask).T)] = True
    return out


@dataclass(frozen=True)
class SurfaceDistances:
    """Directed surface distances of a case (mm), one per border voxel.

    Attributes:
        pred_to_ref: from each border voxel of the prediction to the reference's border.
        ref_to_pred: from each border voxel of the reference to the prediction's border.
    """

    pred_to_ref: np.ndarray
    ref_to_pred: np.ndarray

    @property
    def hd(self) -> float:
        """Hausdorff distance: the larger directed maximum (mm)."""
        return float(max(self.pred_to_ref.max(), self.ref_to_pred.max()))

    @property
    def hd95(self) -> float:
        """95th percentile (linear interpolation) of both directed sets pooled (mm)."""
        return float(np.percentile(np.concatenate([self.pred_to_ref, self.ref_to_pred]), 95))

    @property
    def asd(self) -> float:
        """Average surface distance, directed from prediction to reference (mm)."""
        return float(self.pred_to_ref.mean())

    @property
    def assd(self) -> float:
        """Average symmetric surface distance: mean of both directed sets pooled (mm)."""
        return float(np.concatenate([self.pred_to_ref, self.ref_to_pred]).mean())


def surface_distances(
    pred: Any, ref: Any, spacing: Sequence[float] | None = None
) -> SurfaceDistances:
    """Both directed surface-distance sets of two non-empty masks, from one pass.

    Both masks are listed as voxels in the bounding box of their union plus one voxel (exact:
    every border voxel lies inside and erosion there equals erosion of the whole array); the
    nearest border voxel is then found with a KD-tree over the other mask's border points in mm,
    which is exact and, for lesions, much faster than a distance transform.

    Args:
        pred, ref: boolean 3D masks of equal shape, neither empty.
        spacing: voxel size (mm) per array axis.

    Returns:
        :class:`SurfaceDistances`, in mm.

    Example:
        >>> a = np.zeros((1, 1, 8), bool); a[0, 0, 1] = True
        >>> b = np.zeros((1, 1, 8), bool); b[0, 0, 5] = True
        >>> surface_distances(a, b, (1, 1, 0.5)).hd
        2.0
    """
    pred, ref, sp = check_masks(pred, ref, spacing)
    pred_voxels, ref_voxels = mask_voxels(pred, ref)
    if not (pred_voxels.index.size and ref_voxels.index.size):
        raise ValueError(
            "surface_distances needs two non-empty masks; see the metrics' empty policy"
        )
    return voxel_distances(
        pred_voxels, border_indices(pred_voxels), ref_voxels, border_indices(ref_voxels), sp
    )


def voxel_distances(
    pred: Voxels,
    pred_border: np.ndarray,
    ref: Voxels,
    ref_border: np.ndarray,
    spacing: tuple[float, float, float],
) -> SurfaceDistances:
    """:func:`surface_distances` of two non-empty masks listed together by
    :func:`mask_voxels`, given the flat indices of their border voxels (:func:`border_indices`)."""
    pred_pts = pred.points(pred_border) * np.asarray(spacing)
    ref_pts = ref.points(ref_border) * np.asarray(spacing)
    pred_to_ref = cKDTree(ref_pts).query(pred_pts)[0]
    ref_to_pred = cKDTree(pred_pts).query(ref_pts)[0]
    return SurfaceDistances(np.asarray(pred_to_ref), np.asarray(ref_to_pred))


def _distance(pred: Any, ref: Any, spacing: Sequence[float] | None, name: str) -> float:
    pred, ref, sp = check_masks(pred, ref, spacing)
    pred_voxels, ref_voxels = mask_voxels(pred, ref)
    n_pred, n_ref = pred_voxels.index.size, ref_voxels.index.size
    if not (n_pred and n_ref):
        return 0.0 if n_pred == n_ref else float("nan")
    distances = voxel_distances(
        pred_voxels, border_indices(pred_voxels), ref_voxels, border_indices(ref_voxels), sp
    )
    return float(getattr(distances, name))


def hd(pred: Any, ref: Any, spacing: Sequence[float] | None = None) -> float:
    """Hausdorff distance (mm): the larger of the two directed maxima.

    Example:
        >>> a = np.zeros((1, 1, 8), bool); a[0, 0, 1] = True
        >>> b = np.zeros((1, 1, 8), bool); b[0, 0, 5:7] = True
        >>> hd(a, b), hd(a, np.zeros_like(a))
        (5.0, nan)
    """
    return _distance(pred, ref, spacing, "hd")


def hd95(pred: Any, ref: Any, spacing: Sequence[float] | None = None) -> float:
    """95th-percentile Hausdorff distance (mm), both directed sets pooled (as MedPy).

    Example:
        >>> a = np.zeros((1, 1, 8), bool); a[0, 0, 1] = True
        >>> round(hd95(a, a), 6)
        0.0
    """
    return _distance(pred, ref, spacing, "hd95")


def asd(pred: Any, ref: Any, spacing: Sequence[float] | None = None) -> float:
    """Average surface distance (mm), directed from prediction to reference (as MedPy).

    Example:
        >>> a = np.zeros((1, 1, 8), bool); a[0, 0, 1] = True
        >>> b = np.zeros((1, 1, 8), bool); b[0, 0, 5:7] = True
        >>> asd(a, b), asd(b, a)
        (4.0, 4.5)
    """
    return _distance(pred, ref, spacing, "asd")


def assd(pred: Any, ref: Any, spacing: Sequence[float] | None = None) -> float:
    """Average symmetric surface distance (mm): mean of both directed sets pooled (MedPy 0.5).

    Example:
        >>> a = np.zeros((1, 1, 8), bool); a[0, 0, 1] = True
        >>> b = np.zeros((1, 1, 8), bool); b[0, 0, 5:7] = True
        >>> round(assd(a, b), 4)  # (4 + 4 + 5) / 3
        4.3333
    """
    return _distance(pred, ref, spacing, "assd")


_NEIGHBOUR_WEIGHTS = np.array([[[128, 64], [32, 16]], [[8, 4], [2, 1]]], dtype=np.uint8)
"""Bit of each corner of a 2x2x2 neighbourhood in DeepMind's neighbour code."""


@functools.lru_cache(maxsize=16)
def _surfel_areas(spacing: tuple[float, float, float]) -> np.ndarray:
    """Surfel area (mm^2) of each of the 256 neighbour codes, from the surface-distance package
    (its marching-cubes table), so that ``nsd`` equals that package's value."""
    from surface_distance import lookup_tables  # lazy: importing it costs ~0.3 s

    return np.asarray(lookup_tables.create_table_neighbour_code_to_surface_area(spacing))


_CUBE = np.array([(i, j, k) for i in (0, 1) for j in (0, 1) for k in (0, 1)])
"""Offsets of the 8 corners of the 2x2x2 neighbourhoods (cubes) that hold a voxel."""


def _surfels(voxels: Voxels, border: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Surfel positions and neighbour codes of a mask given as :class:`Voxels` and the flat
    indices of its border voxels (positions are voxel-corner indices: the cube at corner ``c``
    holds the voxels ``c - 1`` to ``c``).

    A cube that holds both classes holds a border voxel (two of its voxels of different classes
    share a face), so only the 8 cubes around each border voxel are visited: the cost follows
    the lesions' surface, not the size of the volume.
    """
    corners = np.unique((border[:, None] + _CUBE @ voxels.strides).ravel())
    code = np.zeros(corners.shape, np.uint8)
    for offset, weight in zip(_CUBE - 1, _NEIGHBOUR_WEIGHTS.ravel(), strict=True):
        code |= (voxels.position(corners + offset @ voxels.strides) >= 0) * weight
    surface = code != 255
    return voxels.points(corners[surface]), code[surface]


def _nearest_mm(points: np.ndarray, others: np.ndarray, sp: np.ndarray) -> np.ndarray:
    """Distance (mm) from each point to the nearest of ``others`` (integer voxel indices), as a
    Euclidean distance transform with sampling ``sp`` gives it: index differences times the
    spacing, squared and summed in axis order."""
    nearest = cKDTree(others * sp).query(points * sp)[1]
    steps = (others[nearest] - points) * sp
    return np.sqrt(steps[:, 0] ** 2 + steps[:, 1] ** 2 + steps[:, 2] ** 2)


def nsd(
    pred: Any, ref: Any, spacing: Sequence[float] | None = None, tolerance_mm: float = 1.0
) -> float:
    """Normalised surface distance (surface Dice) at ``tolerance_mm``, DeepMind's definition.

    Surfels are the 2x2x2 neighbourhoods (at voxel corners) that hold both classes, each with
    the area of its marching-cubes surface (the surface-distance package's table). The surface
    Dice is the area of both surfaces within ``tolerance_mm`` of the other surface over their
    total area. Surfels are found around the border voxels and matched with a KD-tree, so the
    cost follows the lesions, not the size of the volume (the package computes two distance
    transforms over the union's bounding box, which spread lesions make the whole brain).
    Equal to the package to float rounding. Both empty: 1;
    exactly one empty: 0.

    Example:
        >>> a = np.zeros((4, 4, 4), bool); a[1:3, 1:3, 1:3] = True
        >>> nsd(a, a), nsd(a, np.zeros_like(a))
        (1.0, 0.0)
    """
    check_tolerance(tolerance_mm)
    pred, ref, sp = check_masks(pred, ref, spacing)
    pred_voxels, ref_voxels = mask_voxels(pred, ref)
    pred_border, ref_border = border_indices(pred_voxels), border_indices(ref_voxels)
    return voxel_nsd(pred_voxels, pred_border, ref_voxels, ref_border, sp, tolerance_mm)


def check_tolerance(tolerance_mm: float) -> None:
    """Raise ``ValueError`` unless ``tolerance_mm`` (the surface Dice's, in mm) is a number >= 0."""
    if not (isinstance(tolerance_mm, (int, float)) and tolerance_mm >= 0):
        raise ValueError(f"`tolerance_mm` must be a number >= 0, got {tolerance_mm!r}")


def voxel_nsd(
    pred: Voxels,
    pred_border: np.ndarray,
    ref: Voxels,
    ref_border: np.ndarray,
    spacing: tuple[float, float, float],
    tolerance_mm: float,
) -> float:
    """:func:`nsd` of two masks listed together by :func:`mask_voxels`, given the flat indices
    of their border voxels (:func:`border_indices`); ``tolerance_mm`` already checked."""
    if not (pred.index.size and ref.index.size):
        return 1.0 if pred.index.size == ref.index.size else 0.0
    ref_points, ref_codes = _surfels(ref, ref_border)
    pred_points, pred_codes = _surfels(pred, pred_border)
    areas = _surfel_areas(spacing)
    ref_areas, pred_areas = areas[ref_codes], areas[pred_codes]
    spacing_mm = np.asarray(spacing)
    ref_close = _nearest_mm(ref_points, pred_points, spacing_mm) <= tolerance_mm
    pred_close = _nearest_mm(pred_points, ref_points, spacing_mm) <= tolerance_mm
    overlap = ref_areas[ref_close].sum() + pred_areas[pred_close].sum()
    return float(overlap / (ref_areas.sum() + pred_areas.sum()))
