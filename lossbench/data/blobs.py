"""The blob phantom (``data.phantom = "blobs"``): an ellipsoid brain with blob lesions.

Small and fast, for tiny tests and for comparison with the anatomy phantom. The steps of
:func:`lossbench.data.synthetic.generate_case` with ``phantom="blobs"``, in the order it calls
them, each drawing from the one ``numpy.random.Generator`` it is given, and
:class:`BlobSettings`, the knobs that tune them. Arrays are indexed (x, y, z); the axial plane
is the first two axes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from lossbench._geometry import open_grid, smooth_field

__all__ = [
    "BlobSettings",
    "acquire_pair",
    "anatomy",
    "blob_case",
    "draw_new_lesions",
    "draw_old_lesions",
    "new_lesion_count",
    "tissue_image",
]

# FLAIR-like tissue intensities before acquisition effects
_WM, _GM, _CSF, _CAP, _LESION = 0.50, 0.58, 0.08, 0.66, 0.92


@dataclass(frozen=True)
class BlobSettings:
    """Difficulty knobs of the blob phantom.

    Attributes:
        new_lesion_rate: mean of the Poisson number of new lesions (ln 4: a quarter of cases
            have none when each case draws its own number).
        new_volume_mm3: range of new-lesion volumes, drawn log-uniformly (mm^3).
        new_contrast: range of the new lesions' peak contrast over white matter (faint to strong).
        old_lesions: range of the number of pre-existing lesions.
        old_growth: probability that a pre-existing lesion grows at follow-up (unlabelled).
        noise: standard deviation of the Gaussian noise, relative to white matter.
        bias: amplitude of the smooth multiplicative bias field of each scan.
        misregistration_vox: maximum translation of the follow-up, voxels (rigid, sub-voxel).
        misregistration_deg: maximum rotation of the follow-up, degrees.
        min_label_mm3: the label of every new lesion is grown until it exceeds this volume, so
            no labelled lesion falls below the evaluation's size limit.
    """

    new_lesion_rate: float = math.log(4)
    new_volume_mm3: tuple[float, float] = (3.0, 300.0)
    new_contrast: tuple[float, float] = (0.15, 0.45)
    old_lesions: tuple[int, int] = (3, 9)
    old_growth: float = 0.3
    noise: float = 0.03
    bias: float = 0.08
    misregistration_vox: float = 0.3
    misregistration_deg: float = 0.4
    min_label_mm3: float = 3.0


def _ellipsoid(grid: list[np.ndarray], centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True))


def _blob(
    grid: list[np.ndarray], centre: np.ndarray, volume_vox: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Ovoid lesion field in [0, 1] (partial-volume edges) and its radii, of ~``volume_vox``."""
    ratios = rng.uniform(0.7, 1.4, size=3)
    ratios /= np.cbrt(np.prod(ratios))
    radius = np.cbrt(3 * volume_vox / (4 * np.pi))
    radii = radius * ratios
    q = np.sqrt(_ellipsoid(grid, centre, radii))
    return np.clip(1.5 - q, 0.0, 1.0), radii  # 1 inside q < 0.5, linear ramp to 0 at q = 1.5


def _local_grid(
    centre: np.ndarray, reach: float, shape: tuple[int, ...]
) -> tuple[tuple[slice, ...], list[np.ndarray]]:
    box = tuple(
        slice(max(int(c - reach), 0), min(math.ceil(c + reach) + 1, s))
        for c, s in zip(centre, shape, strict=True)
    )
    return box, open_grid([np.arange(b.start, b.stop, dtype=np.float32) for b in box])


def _acquire(
    rng: np.random.Generator, image: np.ndarray, brain: np.ndarray, settings: BlobSettings
) -> np.ndarray:
    """Scanner effects: global scale and offset, smooth bias field, blur, noise."""
    scale, offset = rng.uniform(0.9, 1.1), rng.uniform(-0.03, 0.03)
    bias = np.exp(settings.bias * smooth_field(rng, image.shape, 3))
    out = ndimage.gaussian_filter(image * bias, 0.6) * scale + offset * brain
    out += settings.noise * rng.standard_normal(image.shape)
    return np.clip(out, 0, None).astype(np.float32)


def _rigid(
    rng: np.random.Generator, volume: np.ndarray, settings: BlobSettings, order: int
) -> np.ndarray:
    """Apply one small random rigid transform (same draw for every call with the same state)."""
    angle = math.radians(rng.uniform(-1, 1) * settings.misregistration_deg)
    shift = rng.uniform(-1, 1, size=3) * settings.misregistration_vox
    rot = np.array(
        [[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]]
    )
    centre = (np.asarray(volume.shape) - 1) / 2
    offset = centre - rot @ centre + shift
    return ndimage.affine_transform(volume, rot, offset=offset, order=order, mode="nearest")


def anatomy(rng: np.random.Generator, shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Tissue maps: brain, grey matter, CSF (sulci + ventricles), periventricular caps."""
    grid = open_grid([np.arange(s, dtype=np.float32) for s in shape])
    centre = (np.asarray(shape) - 1) / 2
    radii = np.asarray(shape) * rng.uniform(0.40, 0.46, size=3)
    rho = np.sqrt(_ellipsoid(grid, centre, radii)) + 0.06 * smooth_field(rng, shape, 4)
    brain = rho < 1.0
    cortex = brain & (rho > 0.84 + 0.03 * smooth_field(rng, shape, 6))
    sulci = cortex & (np.abs(smooth_field(rng, shape, 9)) < 0.12) & (rho > 0.86)
    outer_csf = brain & (rho > 0.97)
    # lateral ventricles: two elongated ellipsoids left and right of the midline (axis 0)
    ventricles = np.zeros(shape, bool)
    caps = np.zeros(shape, bool)
    for side in (-1, 1):
        v_centre = centre + np.array([side * 0.09, 0.02, 0.05]) * np.asarray(shape)
        v_radii = np.array([0.045, 0.20, 0.07]) * np.asarray(shape) * rng.uniform(0.85, 1.15, 3)
        q = _ellipsoid(grid, v_centre, v_radii)
        ventricles |= q < 1.0
        # hyperintense caps at the front and back horns: a halo near the ends of the long axis
        ends = np.abs(grid[1] - v_centre[1]) > 0.6 * v_radii[1]
        caps |= (q >= 1.0) & (q < 1.9) & ends
    return {
        "brain": brain,
        "gm": cortex & ~sulci,
        "csf": (sulci | outer_csf | ventricles) & brain,
        "ventricles": ventricles,
        "caps": caps & brain & ~ventricles,
    }


def tissue_image(tissue: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lesion-free image of the :func:`anatomy` maps (float32), its white matter and its
    deep white matter (eroded twice), where lesions are drawn."""
    base = np.where(tissue["brain"], _WM, 0.0).astype(np.float32)
    base[tissue["gm"]] = _GM
    base[tissue["caps"]] = _CAP
    base[tissue["csf"]] = _CSF
    wm = tissue["brain"] & ~tissue["gm"] & ~tissue["csf"] & ~tissue["caps"]
    wm_deep = ndimage.binary_erosion(wm, iterations=2)
    return base, wm, wm_deep


def draw_old_lesions(
    rng: np.random.Generator,
    base: np.ndarray,
    follow: np.ndarray,
    ventricles: np.ndarray,
    wm_deep: np.ndarray,
    voxel_mm3: float,
    settings: BlobSettings,
) -> np.ndarray:
    """Pre-existing lesions, mostly periventricular, drawn into both time points (in place);
    some grow at follow-up, unlabelled. Returns the voxels they occupy at follow-up."""
    near_ventricles = ndimage.binary_dilation(ventricles, iterations=6) & wm_deep
    occupied = np.zeros(base.shape, bool)
    candidates = {True: np.argwhere(near_ventricles), False: np.argwhere(wm_deep)}
    for _ in range(int(rng.integers(*settings.old_lesions, endpoint=True))):
        pool = candidates[bool(rng.random() < 0.7 and len(candidates[True]))]
        centre = pool[rng.integers(len(pool))].astype(np.float64)
        volume = math.exp(rng.uniform(math.log(10), math.log(400))) / voxel_mm3
        box, grid = _local_grid(centre, 2.5 * np.cbrt(volume) + 2, base.shape)
        lesion, _ = _blob(grid, centre, volume, rng)
        contrast = rng.uniform(0.7, 1.0) * (_LESION - _WM)
        base[box] = np.maximum(base[box], np.where(lesion > 0, _WM + contrast * lesion, 0))
        grown = (
            _blob(grid, centre, volume * rng.uniform(1.2, 1.8), rng)[0]
            if (rng.random() < settings.old_growth)
            else lesion
        )
        follow[box] = np.maximum(follow[box], np.where(grown > 0, _WM + contrast * grown, 0))
        occupied[box] |= grown > 0
    return occupied


def new_lesion_count(
    rng: np.random.Generator, settings: BlobSettings, new_lesions: bool | None
) -> int:
    """The number of new lesions: Poisson of mean ``settings.new_lesion_rate`` for ``None``, 0
    for ``False``, and that law conditioned on at least one for ``True``."""
    count = int(rng.poisson(settings.new_lesion_rate)) if new_lesions is not False else 0
    while new_lesions and count == 0:
        count = int(rng.poisson(settings.new_lesion_rate))
    return count


def draw_new_lesions(
    rng: np.random.Generator,
    follow: np.ndarray,
    free: np.ndarray,
    fallback: np.ndarray,
    count: int,
    voxel_mm3: float,
    settings: BlobSettings,
) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """``count`` new lesions drawn into the follow-up (in place), in ``free`` white matter away
    from the old ones (``fallback`` white matter when a small brain has none left). Returns
    their soft field, whose 0.5 level is the label, and their centres (voxels)."""
    field_new = np.zeros(follow.shape, np.float32)
    centres = []
    for _ in range(count):
        pool = np.argwhere(free)
        if not len(pool):  # a small brain crowded by old lesions: any other white matter
            pool = np.argwhere(fallback & ~(field_new > 0))
        if not len(pool):
            break
        centre = pool[rng.integers(len(pool))].astype(np.float64)
        low, high = settings.new_volume_mm3
        volume = math.exp(rng.uniform(math.log(low), math.log(high))) / voxel_mm3
        contrast = rng.uniform(*settings.new_contrast)
        min_voxels = math.floor(settings.min_label_mm3 / voxel_mm3) + 1
        while True:  # grow until the thresholded label is large enough to be scored
            box, grid = _local_grid(centre, 2.5 * np.cbrt(volume) + 2, follow.shape)
            lesion, _ = _blob(grid, centre, volume, rng)
            # the core (> 0.75) must be large enough: the sub-voxel misregistration moves the
            # label's 0.5 edge, never the core's voxels below 0.5
            if np.count_nonzero(lesion > 0.75) >= min_voxels:
                break
            volume *= 1.5
        field_new[box] = np.maximum(field_new[box], lesion)
        follow[box] = np.maximum(
            follow[box], np.where(lesion > 0, follow[box] + contrast * lesion, 0)
        )
        free[box] &= lesion <= 0
        centres.append((float(centre[0]), float(centre[1]), float(centre[2])))
    return field_new, centres


def acquire_pair(
    rng: np.random.Generator,
    base: np.ndarray,
    follow: np.ndarray,
    field_new: np.ndarray,
    brain: np.ndarray,
    settings: BlobSettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The acquisition of both time points: the follow-up and its new-lesion field are moved by
    the same sub-voxel rigid motion (the label is the field's 0.5 level), then each scan gets
    its scanner effects. Returns the baseline, the follow-up and the boolean label."""
    state = rng.bit_generator.state
    follow = _rigid(rng, follow, settings, order=1)
    rng.bit_generator.state = state
    label = _rigid(rng, field_new, settings, order=1) > 0.5
    baseline = _acquire(rng, base, brain, settings)
    followup = _acquire(rng, follow, brain, settings)
    return baseline, followup, label


def blob_case(
    rng: np.random.Generator,
    size: tuple[int, int, int],
    spacing: tuple[float, float, float],
    settings: BlobSettings,
    new_lesions: bool | None,
) -> dict:
    """One blob case's arrays: ``baseline``, ``followup``, ``label``, ``brain_mask`` and
    ``new_lesion_centres`` (the fields of :class:`lossbench.data.synthetic.SyntheticCase`)."""
    voxel_mm3 = float(np.prod(spacing))
    tissue = anatomy(rng, size)
    base, wm, wm_deep = tissue_image(tissue)
    follow = base.copy()
    occupied = draw_old_lesions(
        rng, base, follow, tissue["ventricles"], wm_deep, voxel_mm3, settings
    )
    count = new_lesion_count(rng, settings, new_lesions)
    free = wm_deep & ~ndimage.binary_dilation(occupied, iterations=3)
    fallback = wm & ~occupied
    field_new, centres = draw_new_lesions(rng, follow, free, fallback, count, voxel_mm3, settings)
    baseline, followup, label = acquire_pair(
        rng, base, follow, field_new, tissue["brain"], settings
    )
    return {
        "baseline": baseline,
        "followup": followup,
        "label": label.astype(np.uint8),
        "brain_mask": tissue["brain"].astype(np.uint8),
        "new_lesion_centres": centres,
    }
