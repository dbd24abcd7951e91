"""The anatomy phantom's lesions: how many, how large, where, and how they look.

New lesions follow MSSEG-2's training set (:class:`~lossbench.config.phantom.PhantomSettings`
gives each number and its source): a share of lesion-free cases, a shifted negative binomial
count, a truncated log-normal volume, and a location class drawn from a prior:

- ``periventricular``: touching the lateral ventricles, ovoid, the long axis along the
  ventricle wall's normal (Dawson's fingers), larger than the others;
- ``juxtacortical``: touching the cortex;
- ``deep``: white matter away from both;
- ``infratentorial``: cerebellar and brainstem white matter.

Every lesion lies in white matter: its soft field is weighted by the white-matter probability,
so its label (the field's 0.5 level) holds only voxels where that probability is at least 0.5.
A new lesion is kept only when its label is one 6-connected component above the detection limit
that touches no other lesion, so anima's rule counts each drawn lesion exactly once.
Pre-existing lesions appear at both time points, some grow, and none is labelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, special

from lossbench._geometry import open_grid
from lossbench.config.phantom import DETECTION_LIMIT_MM3, MSSEG2_LESION_FREE, PhantomSettings

__all__ = [
    "LOCATIONS",
    "Lesion",
    "LesionSites",
    "draw_new_lesions",
    "draw_old_lesions",
    "lesion_volume",
    "new_lesion_count",
    "paint",
]

LOCATIONS = ("periventricular", "juxtacortical", "deep", "infratentorial")
"""The location classes of a lesion, in the order of their prior's fields."""

_TRIES = 40
_BOX_DILATION = np.ones((3, 3, 3), bool)


@dataclass(frozen=True)
class Lesion:
    """One drawn lesion: its soft field (float32, in [0, 1]) on the case's ``box``, its signal
    over white matter (relative) and its location class."""

    box: tuple[slice, slice, slice]
    field: np.ndarray
    contrast: float
    location: str


def new_lesion_count(
    rng: np.random.Generator, settings: PhantomSettings, new_lesions: bool | None
) -> int:
    """The number of new lesions of a case.

    ``False``: 0. ``True``: 1 + NB(r, p), the shifted negative binomial of mean
    ``settings.count_mean`` and dispersion ``settings.count_dispersion``. ``None``: 0 with
    MSSEG-2's probability
    (:data:`lossbench.config.phantom.MSSEG2_LESION_FREE`), else the same law.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> new_lesion_count(rng, PhantomSettings(), False)
        0
        >>> new_lesion_count(rng, PhantomSettings(), True) >= 1
        True
    """
    if new_lesions is None:
        new_lesions = bool(rng.random() >= MSSEG2_LESION_FREE)
    if not new_lesions:
        return 0
    r = settings.count_dispersion
    p = r / (r + settings.count_mean - 1)
    return 1 + int(rng.negative_binomial(r, p))


def lesion_volume(rng: np.random.Generator, median_mm3: float, settings: PhantomSettings) -> float:
    """A log-normal volume (mm^3) of median ``median_mm3`` and log standard deviation
    ``settings.volume_sigma``, truncated to ``settings.volume_range_mm3`` (inverse CDF).

    Example:
        >>> v = lesion_volume(np.random.default_rng(0), 20.0, PhantomSettings())
        >>> 3.5 <= v <= 3000
        True
    """
    low, high = (
        special.ndtr((math.log(b) - math.log(median_mm3)) / settings.volume_sigma)
        for b in settings.volume_range_mm3
    )
    z = special.ndtri(rng.uniform(low, high))
    return float(math.exp(math.log(median_mm3) + settings.volume_sigma * z))


class LesionSites:
    """Where a case's lesions may go: its white-matter voxels (probability >= 0.5) with their
    distances to the ventricles and the cortex, found once per case for both the old and the
    new lesions; ``tissue`` is :func:`lossbench.data.anatomy.case_tissue`'s output."""

    def __init__(self, tissue: dict[str, np.ndarray]) -> None:
        self.tissue = tissue
        self.index = np.argwhere(tissue["brain"] & (tissue["wm"] >= 0.5))
        at = tuple(self.index.T)
        self.ventricle_mm = tissue["ventricle_mm"][at]
        self.cortex_mm = tissue["cortex_mm"][at]
        self.infratentorial = tissue["infratentorial"][at]

    def candidates(self, location: str, radius: float) -> np.ndarray:
        """Rows of :attr:`index` where a lesion of ``radius`` (mm) has that location."""
        v, c, infra = self.ventricle_mm, self.cortex_mm, self.infratentorial
        if location == "infratentorial":
            keep = infra
        elif location == "periventricular":
            keep = ~infra & (v >= 0.5 * radius) & (v <= radius + 1.5)
        elif location == "juxtacortical":
            keep = ~infra & (c >= 0.5 * radius) & (c <= radius + 1.0) & (v > radius + 3)
        else:
            keep = ~infra & (c > radius + 2) & (v > radius + 3)
        return np.flatnonzero(keep)


def _axes(rng: np.random.Generator, normal: np.ndarray | None) -> np.ndarray:
    """Orthonormal rows; the first is ``normal`` when given, else all random."""
    basis = rng.standard_normal((3, 3))
    if normal is not None:
        basis[0] = normal
    q, _ = np.linalg.qr(basis.T)
    return q.T


def _shape(
    rng: np.random.Generator, volume_mm3: float, location: str, elongation: float
) -> np.ndarray:
    """Radii (mm) of an ovoid of ``volume_mm3``: elongated along its first axis when
    periventricular, mildly irregular otherwise."""
    radius = (3 * volume_mm3 / (4 * math.pi)) ** (1 / 3)
    if location == "periventricular":
        ratios = np.array([elongation ** (2 / 3), elongation ** (-1 / 3), elongation ** (-1 / 3)])
    else:
        ratios = rng.uniform(0.75, 1.33, 3)
        ratios /= np.cbrt(np.prod(ratios))
    return radius * ratios


def _normal(distance: np.ndarray, at: np.ndarray) -> np.ndarray | None:
    """The gradient direction of a distance map at a voxel (away from the structure)."""
    lo = np.maximum(at - 1, 0)
    hi = np.minimum(at + 2, distance.shape)
    patch = distance[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
    if min(patch.shape) < 2:
        return None
    gradient = np.array([g.mean() for g in np.gradient(patch)])
    norm = float(np.linalg.norm(gradient))
    return gradient / norm if norm > 0 else None


def _field(
    centre: np.ndarray,
    axes: np.ndarray,
    radii: np.ndarray,
    spacing: np.ndarray,
    wm: np.ndarray,
    edge_mm: float,
) -> tuple[tuple[slice, slice, slice], np.ndarray]:
    """The lesion's soft field on its bounding box: a logistic edge of width ``edge_mm`` about
    the ovoid's surface, weighted by the white-matter probability (1 from 0.75, 0 below 0.25)."""
    reach = (radii.max() + 2 * edge_mm + 1) / spacing
    box = tuple(
        slice(max(int(c - r), 0), min(math.ceil(c + r) + 1, n))
        for c, r, n in zip(centre, reach, wm.shape, strict=True)
    )
    offsets = open_grid(
        [(np.arange(b.start, b.stop) - c) * s for b, c, s in zip(box, centre, spacing, strict=True)]
    )
    q2 = sum((sum(axes[k, b] * offsets[b] for b in range(3)) / radii[k]) ** 2 for k in range(3))
    signed_mm = (np.sqrt(q2) - 1) * float(np.cbrt(np.prod(radii)))
    field = 1 / (1 + np.exp(np.clip(4 * signed_mm / edge_mm, -50, 50)))
    weight = np.clip((wm[box] - 0.25) / 0.5, 0, 1)
    return box, (field * weight).astype(np.float32)  # type: ignore[return-value]


def _place(
    rng: np.random.Generator,
    sites: LesionSites,
    location: str,
    volume: float,
    settings: PhantomSettings,
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray] | None:
    """A random site of the location class (of another class, in the prior's order, when the
    field of view holds none) and an ovoid there: the class used, the centre (voxels), the axes
    and the radii (mm); None if the white matter has no site at all."""
    for where in (location, *(c for c in LOCATIONS if c != location)):
        radii = _shape(rng, volume, where, settings.elongation)
        rows = sites.candidates(where, float(radii.max()))
        if len(rows):
            at = sites.index[rows[rng.integers(len(rows))]]
            distance = sites.tissue["ventricle_mm"]
            normal = _normal(distance, at) if where == "periventricular" else None
            return where, at + rng.uniform(-0.5, 0.5, 3), _axes(rng, normal), radii
    return None


def _location(rng: np.random.Generator, shares: list[float]) -> str:
    p = np.asarray(shares, float)
    return LOCATIONS[int(rng.choice(len(LOCATIONS), p=p / p.sum()))]


def _new_shares(settings: PhantomSettings) -> list[float]:
    return [
        settings.periventricular_share,
        settings.juxtacortical_share,
        settings.deep_share,
        settings.infratentorial_share,
    ]


def _acceptable(field: np.ndarray, box: tuple, occupied: np.ndarray, voxel_mm3: float) -> bool:
    """A new lesion's label is one 6-connected component above the detection limit, and its
    reach touches no other lesion."""
    label = field >= 0.5
    if np.count_nonzero(label) * voxel_mm3 <= DETECTION_LIMIT_MM3:
        return False
    if ndimage.label(label)[1] != 1:
        return False
    reach = ndimage.binary_dilation(field > 0.05, _BOX_DILATION)
    return not np.any(occupied[box] & reach)


def draw_new_lesions(
    rng: np.random.Generator,
    sites: LesionSites,
    spacing: tuple[float, float, float],
    settings: PhantomSettings,
    count: int,
    occupied: np.ndarray,
) -> list[Lesion]:
    """``count`` new lesions in the case's white matter, each kept only when
    acceptable (see the module's docstring); a lesion that finds no place in 40 draws of site
    and shape (its volume grown by half every 10, for the smallest) is left out, so a small
    field of view may hold fewer. ``occupied`` (bool, the case's shape) is updated in place.

    Example:
        >>> from lossbench.data.anatomy import case_tissue, draw_warp
        >>> rng = np.random.default_rng(0)
        >>> coords = draw_warp(rng, PhantomSettings(), (48, 56, 48), (1, 1, 1), "ventricles")
        >>> sites = LesionSites(case_tissue(coords, (1, 1, 1)))
        >>> busy = np.zeros((48, 56, 48), bool)
        >>> len(draw_new_lesions(rng, sites, (1, 1, 1), PhantomSettings(), 3, busy))
        3
    """
    step, wm = np.asarray(spacing, float), sites.tissue["wm"]
    voxel_mm3 = float(np.prod(step))
    lesions = []
    for _ in range(count):
        location = _location(rng, _new_shares(settings))
        factor = settings.periventricular_volume_factor if location == "periventricular" else 1
        volume = lesion_volume(rng, settings.volume_median_mm3 * factor, settings)
        for attempt in range(_TRIES):
            if attempt and attempt % 10 == 0:
                volume *= 1.5
            ovoid = _place(rng, sites, location, volume, settings)
            if ovoid is None:
                break
            where, centre, axes, radii = ovoid
            box, field = _field(centre, axes, radii, step, wm, settings.edge_mm)
            if _acceptable(field, box, occupied, voxel_mm3):
                occupied[box] |= field > 0.05
                lesions.append(
                    Lesion(
                        box,
                        field,
                        float(rng.uniform(settings.contrast[0], settings.contrast[1])),
                        where,
                    )
                )
                break
    return lesions


def draw_old_lesions(
    rng: np.random.Generator,
    sites: LesionSites,
    spacing: tuple[float, float, float],
    settings: PhantomSettings,
) -> tuple[list[Lesion], list[Lesion], np.ndarray]:
    """Pre-existing lesions at baseline and at follow-up (some grown), and the voxels they
    reach at follow-up (bool), which new lesions avoid.

    Example:
        >>> from lossbench.data.anatomy import case_tissue, draw_warp
        >>> rng = np.random.default_rng(0)
        >>> coords = draw_warp(rng, PhantomSettings(), (48, 56, 48), (1, 1, 1), "ventricles")
        >>> sites = LesionSites(case_tissue(coords, (1, 1, 1)))
        >>> before, after, busy = draw_old_lesions(rng, sites, (1, 1, 1), PhantomSettings())
        >>> len(before) == len(after), busy.dtype
        (True, dtype('bool'))
    """
    step, wm = np.asarray(spacing, float), sites.tissue["wm"]
    occupied = np.zeros(wm.shape, bool)
    before, after = [], []
    rest = _new_shares(settings)[1:]
    share = settings.old_periventricular_share
    for _ in range(int(rng.integers(settings.old_count[0], settings.old_count[1], endpoint=True))):
        location = _location(rng, [share, *[(1 - share) * s / sum(rest) for s in rest]])
        volume = lesion_volume(rng, settings.old_volume_median_mm3, settings)
        ovoid = _place(rng, sites, location, volume, settings)
        if ovoid is None:
            continue
        location, centre, axes, radii = ovoid
        contrast = float(rng.uniform(settings.contrast[0], settings.contrast[1]))
        growth = (
            rng.uniform(settings.old_growth_factor[0], settings.old_growth_factor[1])
            if rng.random() < settings.old_growth
            else 1
        )
        placed = _field(centre, axes, radii, step, wm, settings.edge_mm)
        grown = _field(centre, axes, radii * growth ** (1 / 3), step, wm, settings.edge_mm)
        before.append(Lesion(*placed, contrast, location))
        after.append(Lesion(*grown, contrast, location))
        occupied[grown[0]] |= grown[1] > 0.05
    return before, after, occupied


def paint(image: np.ndarray, lesions: list[Lesion], white_matter: float) -> None:
    """Blend each lesion into ``image`` (in place): towards ``white_matter * (1 + contrast)``
    by its soft field, so its border is smooth.

    Example:
        >>> image = np.zeros((4, 4, 4), np.float32)
        >>> box = (slice(0, 2), slice(0, 2), slice(0, 2))
        >>> paint(image, [Lesion(box, np.ones((2, 2, 2), np.float32), 0.5, "deep")], 0.6)
        >>> round(float(image.max()), 6)
        0.9
    """
    for lesion in lesions:
        target = white_matter * (1 + lesion.contrast)
        image[lesion.box] += lesion.field * (target - image[lesion.box])
