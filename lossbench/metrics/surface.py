"""Surface-distance metrics, identical to MedPy 0.5's and computed in one pass per case.

Border of a mask: the voxels that one binary erosion with the face-connected structure removes
(the array edge counts as outside). Distances are Euclidean, in mm (``spacing`` per array axis),
from each border voxel of one mask to the nearest border voxel of the other.
Empty-mask policy: both masks empty: every distance 0 (and ``nsd`` 1); exactly one empty: every
distance NaN (``nsd`` 0).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from lossbench.metrics._masks import check_masks, union_box

__all__ = ["SurfaceDistances", "asd", "assd", "border", "hd", "hd95", "nsd", "surface_distances"]

_FACE = ndimage.generate_binary_structure(3, 1)


def border(mask: np.ndarray) -> np.ndarray:
    """Border voxels: ``mask`` minus its erosion by the face-connected structure.

    Example:
        >>> m = np.ones((3, 3, 3), bool)
        >>> int(border(m).sum())  # every voxel but the centre touches the outside
        26
    """
    return mask & ~ndimage.binary_erosion(mask, structure=_FACE)


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


def _points(mask: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    return np.argwhere(border(mask)) * np.asarray(spacing)


def surface_distances(
    pred: Any, ref: Any, spacing: Sequence[float] | None = None
) -> SurfaceDistances:
    """Both directed surface-distance sets of two non-empty masks, from one pass.

    Both masks are cropped to the bounding box of their union plus one voxel (exact: every border
    voxel lies inside and erosion there equals erosion of the whole array); the nearest border
    voxel is then found with a KD-tree over the other mask's border points in mm, which is exact
    and, for lesions, much faster than a distance transform.

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
    box = union_box(pred, ref)
    if box is None or not pred.any() or not ref.any():
        raise ValueError(
            "surface_distances needs two non-empty masks; see the metrics' empty policy"
        )
    pred_pts, ref_pts = _points(pred[box], sp), _points(ref[box], sp)
    pred_to_ref = cKDTree(ref_pts).query(pred_pts)[0]
    ref_to_pred = cKDTree(pred_pts).query(ref_pts)[0]
    return SurfaceDistances(np.asarray(pred_to_ref), np.asarray(ref_to_pred))


def _distance(pred: Any, ref: Any, spacing: Sequence[float] | None, name: str) -> float:
    pred, ref, sp = check_masks(pred, ref, spacing)
    pred_any, ref_any = bool(pred.any()), bool(ref.any())
    if not pred_any and not ref_any:
        return 0.0
    if not pred_any or not ref_any:
        return float("nan")
    return float(getattr(surface_distances(pred, ref, sp), name))


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


def nsd(
    pred: Any, ref: Any, spacing: Sequence[float] | None = None, tolerance_mm: float = 1.0
) -> float:
    """Normalised surface distance (surface Dice) at ``tolerance_mm``.

    Computed by DeepMind's ``surface_distance`` package (its surfel-area definition), on the union
    crop, and never on an empty mask (the package fails there on NumPy 2). Both empty: 1; exactly
    one empty: 0.

    Example:
        >>> a = np.zeros((4, 4, 4), bool); a[1:3, 1:3, 1:3] = True
        >>> nsd(a, a), nsd(a, np.zeros_like(a))
        (1.0, 0.0)
    """
    import surface_distance  # lazy: importing it costs ~0.3 s

    if not (isinstance(tolerance_mm, (int, float)) and tolerance_mm >= 0):
        raise ValueError(f"`tolerance_mm` must be a number >= 0, got {tolerance_mm!r}")
    pred, ref, sp = check_masks(pred, ref, spacing)
    pred_any, ref_any = bool(pred.any()), bool(ref.any())
    if not (pred_any and ref_any):
        return 1.0 if pred_any == ref_any else 0.0
    box = union_box(pred, ref, margin=2)
    with warnings.catch_warnings():  # the package uses scipy namespaces deprecated since 1.8
        warnings.simplefilter("ignore", DeprecationWarning)
        distances = surface_distance.compute_surface_distances(ref[box], pred[box], sp)
    return float(surface_distance.compute_surface_dice_at_tolerance(distances, tolerance_mm))
