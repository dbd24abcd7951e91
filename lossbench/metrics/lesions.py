"""Lesion-wise detection, following the MSSEG-2 evaluation: animaSegPerfAnalyzer's code.

Lesions are connected components (face connectivity by default, as the challenge's tool; 26 on
request), numbered as ITK numbers them: by decreasing size, equal sizes in raster order with the
first array axis fastest (ITK's x). Components of at most ``min_lesion_mm3`` are discarded from
both masks (their voxels count as background). A reference lesion is *detected* when the kept
predicted components cover more than ``alpha`` of it (covered / size > alpha), and the predicted
components overlapping it, taken by decreasing overlap (ties: by lesion number) while the sum of
their overlap shares is below ``gamma``, each have at most ``beta`` of their voxels outside every
kept reference lesion (outside / size <= beta). The shares are added one by one in floating
point, as anima adds them: 14/40 + 12/40 = 0.6499999999999999 is below 0.65. Lesion precision
applies the same rule with the roles swapped.

Scores follow anima's branches: an empty reference mask gives NaN precision, recall and F1 (such
a case is scored by its false-positive lesions); a reference mask whose lesions are all below the
size limit gives precision 0, recall NaN and F1 0.

Where lossbench and anima part: a mask that fills the whole image is one lesion here, where
anima's label normalisation turns it into an empty image; equal overlaps always keep the lesion
numbering order, which anima's ``std::sort`` keeps for at most 16 lesions with GCC's library and
leaves unspecified beyond; and where anima's loop reads past its vector (see :func:`detected`)
the lesion counts as detected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from lossbench.metrics._masks import Voxels, check_masks, mask_voxels
from lossbench.metrics.regions import check_regions, lesion_regions

__all__ = ["LesionDetection", "LesionList", "detected", "label_lesions", "lesion_detection"]

_NEIGHBOURS = {
    6: np.eye(3, dtype=int),
    26: np.array(
        [
            (i, j, k)
            for i in (-1, 0, 1)
            for j in (-1, 0, 1)
            for k in (-1, 0, 1)
            if (i, j, k) > (0, 0, 0)
        ]
    ),
}
"""Half of each neighbourhood (the offsets after the voxel in C order): each link once."""


def label_lesions(
    mask: np.ndarray,
    spacing: Sequence[float],
    *,
    min_lesion_mm3: float = 3.0,
    connectivity: int = 6,
) -> tuple[np.ndarray, int]:
    """Label the lesions of a boolean mask, dropping those of at most ``min_lesion_mm3``.

    A component is kept when it has more than ``floor(min_lesion_mm3 / voxel volume)`` voxels.
    Kept components are numbered as ITK's ``ConnectedComponentImageFilter`` followed by
    ``RelabelComponentImageFilter`` number them (anima's labelling): by decreasing size, equal
    sizes by the position of their first voxel in raster order with axis 0 fastest.

    Args:
        mask: boolean 3D mask.
        spacing: voxel size (mm) per axis.
        min_lesion_mm3: size limit (mm^3).
        connectivity: 6 (face) or 26 (face, edge and corner neighbours).

    Returns:
        ``(labels, n)``: int32 labels 1..n of the kept lesions, 0 elsewhere, shape of ``mask``.

    Raises:
        ValueError: a bad size limit or connectivity.

    Example:
        >>> m = np.zeros((1, 1, 9), bool); m[0, 0, :2] = True; m[0, 0, 4:8] = True
        >>> labels, n = label_lesions(m, (1, 1, 1), min_lesion_mm3=3.0)
        >>> n, labels.tolist()
        (1, [[[0, 0, 0, 0, 1, 1, 1, 1, 0]]])
        >>> m = np.zeros((3, 3, 1), bool); m[0, 2] = m[2, 0] = True  # equal sizes: x fastest
        >>> label_lesions(m, (1, 1, 1), min_lesion_mm3=0)[0][..., 0].tolist()
        [[0, 0, 2], [0, 0, 0], [1, 0, 0]]
    """
    _check_labelling(min_lesion_mm3, connectivity)
    (voxels,) = mask_voxels(mask)
    lesion, n = _lesions(voxels, spacing, min_lesion_mm3, connectivity)
    labels = np.zeros(np.shape(mask), dtype=np.int32)
    labels[tuple((voxels.points(voxels.index) + voxels.start).T)] = lesion
    return labels, n


def _check_labelling(min_lesion_mm3: float, connectivity: int) -> None:
    if connectivity not in (6, 26):
        raise ValueError(f"`connectivity` must be 6 or 26, got {connectivity!r}")
    if not (isinstance(min_lesion_mm3, (int, float)) and min_lesion_mm3 >= 0):
        raise ValueError(f"`min_lesion_mm3` must be a number >= 0, got {min_lesion_mm3!r}")


def _lesions(
    voxels: Voxels, spacing: Sequence[float], min_lesion_mm3: float, connectivity: int
) -> tuple[np.ndarray, int]:
    """:func:`label_lesions` of a mask given as :class:`Voxels`: the label of each of its voxels
    (int32, 0 for a dropped component) and the number of kept lesions; arguments already
    checked.

    The components are those of the graph whose nodes are the mask's voxels and whose edges
    join neighbours, so the cost follows the lesions, not the size of the volume.
    """
    index = voxels.index
    links, neighbours = [], []
    for step in _NEIGHBOURS[connectivity] @ voxels.strides:
        neighbour = voxels.position(index + step)
        linked = np.flatnonzero(neighbour >= 0)
        links.append(linked)
        neighbours.append(neighbour[linked])
    rows, cols = np.concatenate(links), np.concatenate(neighbours)
    graph = sparse.coo_array((np.ones(rows.size, bool), (rows, cols)), shape=(index.size,) * 2)
    n, component = connected_components(graph, directed=False)
    sizes = np.bincount(component, minlength=n)
    kept = np.flatnonzero(sizes > math.floor(min_lesion_mm3 / _voxel_mm3(spacing)))
    # ITK: decreasing size, equal sizes by the raster position of the first voxel, axis 0
    # fastest (Fortran order)
    raster = np.ravel_multi_index(np.unravel_index(index, voxels.shape), voxels.shape, order="F")
    _, first_voxel = np.unique(component[np.argsort(raster)], return_index=True)
    order = kept[np.lexsort((first_voxel[kept], -sizes[kept]))]
    relabel = np.zeros(n, dtype=np.int32)
    relabel[order] = np.arange(1, order.size + 1, dtype=np.int32)
    return relabel[component], int(order.size)


def _voxel_mm3(spacing: Sequence[float]) -> float:
    """Voxel volume (mm^3), multiplied left to right as anima does.

    Example:
        >>> _voxel_mm3((0.5, 0.75, 0.75))
        0.28125
    """
    return float(spacing[0]) * float(spacing[1]) * float(spacing[2])


def detected(
    overlap: np.ndarray,
    size_a: np.ndarray,
    size_b: np.ndarray,
    alpha: float,
    beta: float,
    gamma: float,
) -> np.ndarray:
    """Which lesions of set A are detected by the lesions of set B (anima's
    ``getTruePositiveLesions`` and ``falsePositiveRatioTester``).

    For lesion i of A: ``covered / size_a[i] > alpha``, where ``covered`` sums its row; then the
    lesions of B, by decreasing overlap with it (ties: by index), are checked while the running
    float sum of ``overlap / covered`` is below ``gamma``; each checked one must have
    ``outside / size_b <= beta``, ``outside`` being its voxels outside every lesion of A. B lesions
    that do not overlap i come last and are checked only if that sum stays below ``gamma`` after
    all the overlapping ones (gamma within rounding of 1); when all of B is checked that way,
    anima's loop reads past its vector (its result is undefined) and the lesion counts here as
    detected.

    Args:
        overlap: (n_a, n_b) voxel counts of A-lesion i inside B-lesion j.
        size_a, size_b: (n_a,) and (n_b,) voxel counts of each lesion (at least 1).
        alpha, beta, gamma: the rule's thresholds, in (0, 1].

    Returns:
        Boolean array (n_a,).

    Example:
        >>> detected(np.array([[5, 0], [1, 1]]), np.array([10, 10]), np.array([5, 20]),
        ...          0.1, 0.7, 0.65)
        array([ True, False])
    """
    overlap = np.asarray(overlap, dtype=np.int64)
    size_b = np.asarray(size_b, dtype=np.int64)
    covered = overlap.sum(axis=1)
    result = covered / np.asarray(size_a) > alpha
    too_far_out = (size_b - overlap.sum(axis=0)) / size_b > beta
    rows = overlap[result]
    order = np.argsort(-rows, axis=1, kind="stable")
    shares = np.take_along_axis(rows, order, axis=1) / covered[result][:, None]
    running = np.cumsum(shares, axis=1)  # a sequential float sum, as anima's loop
    checked = np.ones(order.shape, dtype=bool)
    checked[:, 1:] = running[:, :-1] < gamma
    result[result] = ~(checked & too_far_out[order]).any(axis=1)
    return result


@dataclass(frozen=True)
class LesionList:
    """The kept lesions of one mask, lesion k (anima's numbering) at position k - 1.

    Attributes:
        volumes_mm3: float (n,) volume of each lesion (mm^3).
        detected: bool (n,) whether the other mask detects it (the rule, roles as needed).
        region: int (n,) the first region, in the code order of the ``regions`` map given to
            :func:`lesion_detection` (1 first), that any voxel of the lesion lies in; 0 where
            it lies in none, or no map was given.
    """

    volumes_mm3: np.ndarray
    detected: np.ndarray
    region: np.ndarray


def _no_lesions() -> LesionList:
    return LesionList(np.zeros(0), np.zeros(0, bool), np.zeros(0, np.int64))


@dataclass(frozen=True)
class LesionDetection:
    """Lesion-wise detection of one case.

    Attributes:
        n_ref, n_pred: kept reference and predicted lesions.
        ref_detected: reference lesions detected by the prediction.
        pred_detected: predicted lesions detected by the reference (roles swapped).
        fp_volume_mm3: volume of the predicted lesions not detected by the reference.
        ref_empty: the reference mask has no voxel at all (anima's empty-ground-truth branch).
        ref_lesions, pred_lesions: each kept lesion's volume, detection and region.
    """

    n_ref: int
    n_pred: int
    ref_detected: int
    pred_detected: int
    fp_volume_mm3: float
    ref_empty: bool
    ref_lesions: LesionList = field(default_factory=_no_lesions, compare=False, repr=False)
    pred_lesions: LesionList = field(default_factory=_no_lesions, compare=False, repr=False)

    @property
    def n_fp(self) -> int:
        """Predicted lesions that no reference lesion confirms (false-positive lesions)."""
        return self.n_pred - self.pred_detected

    @property
    def recall(self) -> float:
        """Detected reference lesions / reference lesions; NaN without kept reference lesion."""
        return self.ref_detected / self.n_ref if self.n_ref else float("nan")

    @property
    def precision(self) -> float:
        """Confirmed predicted lesions / predicted lesions; 0 without predicted lesion; NaN for
        an empty reference mask."""
        if self.ref_empty:
            return float("nan")
        return self.pred_detected / self.n_pred if self.n_pred else 0.0

    @property
    def f1(self) -> float:
        """``2PR / (P + R)``; 0 when that sum is 0 or NaN (no kept reference lesion); NaN for an
        empty reference mask."""
        if self.ref_empty:
            return float("nan")
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0


def lesion_detection(
    pred: Any,
    ref: Any,
    spacing: Sequence[float] | None = None,
    *,
    min_lesion_mm3: float = 3.0,
    alpha: float = 0.10,
    beta: float = 0.70,
    gamma: float = 0.65,
    connectivity: int = 6,
    regions: np.ndarray | None = None,
) -> LesionDetection:
    """Lesion-wise detection of ``pred`` against ``ref`` by the MSSEG-2 rule (module docstring).

    Args:
        pred, ref: boolean 3D masks of equal shape.
        spacing: voxel size (mm) per axis.
        min_lesion_mm3: size limit (mm^3), >= 0.
        alpha, beta, gamma: the rule's thresholds, each in (0, 1] as anima requires.
        connectivity: 6 (face, anima's) or 26.
        regions: optional int map of the masks' shape, region codes 1, 2, ... (0: none), in
            order of precedence: each lesion gets the lowest code among its voxels.

    Returns:
        :class:`LesionDetection` (counts, false-positive volume in mm^3, precision, recall, F1,
        and each lesion's volume, detection and region).

    Raises:
        ValueError: a threshold outside (0, 1], a bad size limit or connectivity, bad masks.

    Example:
        >>> ref = np.zeros((1, 12, 12), bool); ref[0, 1:4, 1:4] = True; ref[0, 7:10, 7:10] = True
        >>> pred = np.zeros_like(ref); pred[0, 1:4, 1:4] = True
        >>> result = lesion_detection(pred, ref)
        >>> result.recall, result.precision, round(result.f1, 4)
        (0.5, 1.0, 0.6667)
        >>> small = np.zeros_like(ref); small[0, 7, 7:9] = True  # 2 mm^3: below the limit
        >>> result = lesion_detection(pred, small)
        >>> result.n_ref, result.recall, result.precision, result.f1, result.n_fp
        (0, nan, 0.0, 0.0, 1)
        >>> result = lesion_detection(pred, ref)
        >>> result.ref_lesions.volumes_mm3.tolist(), result.ref_lesions.detected.tolist()
        ([9.0, 9.0], [True, False])
    """
    check_rule(min_lesion_mm3, alpha, beta, gamma, connectivity)
    pred, ref, sp = check_masks(pred, ref, spacing)
    check_regions(regions, ref.shape)
    pred_voxels, ref_voxels = mask_voxels(pred, ref)
    ref_in_pred = pred_voxels.position(ref_voxels.index)
    rule = (min_lesion_mm3, alpha, beta, gamma, connectivity)
    return voxel_detection(pred_voxels, ref_voxels, ref_in_pred, sp, rule, regions)


def check_rule(
    min_lesion_mm3: float, alpha: float, beta: float, gamma: float, connectivity: int
) -> None:
    """Raise ``ValueError`` unless each threshold is a number in (0, 1] (as anima requires),
    the size limit (mm^3) a number >= 0 and the connectivity 6 or 26."""
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and 0 < value <= 1):
            raise ValueError(f"`{name}` must be a number in (0, 1], got {value!r}")
    _check_labelling(min_lesion_mm3, connectivity)


def voxel_detection(
    pred: Voxels,
    ref: Voxels,
    ref_in_pred: np.ndarray,
    spacing: tuple[float, float, float],
    rule: tuple[float, float, float, float, int],
    regions: np.ndarray | None = None,
) -> LesionDetection:
    """:func:`lesion_detection` of two masks listed together by :func:`mask_voxels`, given
    ``ref_in_pred``, the position of each reference voxel among the predicted ones (-1 where
    none, :meth:`Voxels.position`); ``rule`` is (min_lesion_mm3, alpha, beta, gamma,
    connectivity), it and ``regions`` already checked. Each mask is labelled once."""
    min_lesion_mm3, alpha, beta, gamma, connectivity = rule
    ref_lesion, n_ref = _lesions(ref, spacing, min_lesion_mm3, connectivity)
    pred_lesion, n_pred = _lesions(pred, spacing, min_lesion_mm3, connectivity)
    shared = ref_in_pred >= 0
    pred_at_ref = np.zeros_like(ref_lesion)  # the predicted lesion at each reference voxel
    pred_at_ref[shared] = pred_lesion[ref_in_pred[shared]]
    pairs = ref_lesion.astype(np.int64) * (n_pred + 1) + pred_at_ref
    counts = np.bincount(pairs, minlength=(n_ref + 1) * (n_pred + 1)).reshape(n_ref + 1, -1)
    overlap = counts[1:, 1:]
    size_ref = np.bincount(ref_lesion, minlength=n_ref + 1)[1:]
    size_pred = np.bincount(pred_lesion, minlength=n_pred + 1)[1:]
    ref_hit = detected(overlap, size_ref, size_pred, alpha, beta, gamma)
    pred_hit = detected(overlap.T, size_pred, size_ref, alpha, beta, gamma)
    voxel_mm3 = _voxel_mm3(spacing)
    return LesionDetection(
        n_ref=n_ref,
        n_pred=n_pred,
        ref_detected=int(ref_hit.sum()),
        pred_detected=int(pred_hit.sum()),
        fp_volume_mm3=float(size_pred[~pred_hit].sum()) * voxel_mm3,
        ref_empty=ref.index.size == 0,
        ref_lesions=LesionList(
            size_ref * voxel_mm3, ref_hit, lesion_regions(ref, ref_lesion, n_ref, regions)
        ),
        pred_lesions=LesionList(
            size_pred * voxel_mm3, pred_hit, lesion_regions(pred, pred_lesion, n_pred, regions)
        ),
    )
