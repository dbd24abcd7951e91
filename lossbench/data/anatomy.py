"""One case's anatomy, FLAIR contrast and acquisition, drawn from the ICBM 2009a template.

The steps the anatomy phantom takes (:func:`lossbench.data.synthetic.generate_case` with
``phantom="anatomy"``), each drawing from the one ``numpy.random.Generator`` it is given:

1. :func:`draw_warp`: a seeded transform from the case's grid to the template, the composition
   of a global affine part (scale and rotation), a smooth displacement field and a ventricle
   enlargement (atrophy);
2. :func:`case_tissue`: the template's maps sampled through it (linear interpolation, so
   partial volumes come from the probabilities);
3. :func:`flair_weights` and :func:`flair`: the FLAIR signal of each tissue, varied per case
   and per time point;
4. :func:`acquire`: each time point's bias field and Rician noise, then its resampling into the
   halfway space, half of a residual rigid motion each way, so both carry the same
   interpolation.

The case's grid is the middle space: ``shape`` voxels of ``spacing`` mm, centred on the
template's brain or lateral ventricles. Arrays are indexed (x, y, z).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import ndimage

from lossbench._geometry import open_grid, smooth_field
from lossbench.config.phantom import PhantomSettings
from lossbench.data import lesion_model
from lossbench.data.lesion_model import Lesion
from lossbench.data.template import Template, load_template

__all__ = [
    "TISSUE_CLASSES",
    "acquire",
    "anatomy_case",
    "case_tissue",
    "draw_warp",
    "flair",
    "flair_weights",
    "jacobian_determinant",
]

TISSUE_CLASSES = {"csf": 1, "gm": 2, "wm": 3, "ventricles": 4, "infratentorial_wm": 5}
"""The labels of ``tissue.nii.gz``, the phantom's tissue map (0 is outside the brain)."""


def _rotation(angles_deg: np.ndarray) -> np.ndarray:
    """Rotation matrix about x, then y, then z (degrees)."""
    matrix = np.eye(3)
    for axis, angle in enumerate(np.radians(angles_deg)):
        c, s = math.cos(angle), math.sin(angle)
        i, j = [a for a in range(3) if a != axis]
        turn = np.eye(3)
        turn[i, i], turn[i, j], turn[j, i], turn[j, j] = c, -s, s, c
        matrix = turn @ matrix
    return matrix


def _grid_mm(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> list:
    """Open grid of the case's voxel positions (mm) about its centre."""
    return open_grid(
        [
            (np.arange(n, dtype=np.float32) - (n - 1) / 2) * s
            for n, s in zip(shape, spacing, strict=True)
        ]
    )


def draw_warp(
    rng: np.random.Generator,
    settings: PhantomSettings,
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    centre: str = "brain",
) -> np.ndarray:
    """A seeded case-to-template transform, as template voxel coordinates.

    Args:
        rng: drives the draw.
        settings: ``scale``, ``rotation_deg``, ``warp_mm``, ``warp_spacing_mm`` and
            ``atrophy_mm`` are used.
        shape, spacing: the case's grid (voxels, mm).
        centre: ``"brain"`` or ``"ventricles"``: what the grid is centred on.

    Returns:
        float32 array of shape ``(3, *shape)``: for each case voxel, the template voxel it
        samples.

    Example:
        >>> coords = draw_warp(np.random.default_rng(0), PhantomSettings(), (8, 8, 8), (2, 2, 2))
        >>> coords.shape
        (3, 8, 8, 8)
    """
    template = load_template()
    matrix = _rotation(rng.uniform(-1, 1, 3) * settings.rotation_deg) @ np.diag(
        1 + rng.uniform(-1, 1, 3) * settings.scale
    )
    to_voxel = np.linalg.inv(template.affine)
    centre_mm = template.centres[centre]
    grid = _grid_mm(shape, spacing)
    mm = [sum(matrix[a, b] * grid[b] for b in range(3)) + centre_mm[a] for a in range(3)]
    coords = np.stack(
        [sum(to_voxel[a, b] * mm[b] for b in range(3)) + to_voxel[a, 3] for a in range(3)]
    ).astype(np.float32)
    coords += _displacement(rng, settings, shape, spacing)
    pull = np.stack([_sample(template.pull[a], coords) for a in range(3)])
    low, high = settings.atrophy_mm
    return coords + np.float32(rng.uniform(low, high)) * pull


def _displacement(
    rng: np.random.Generator,
    settings: PhantomSettings,
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
) -> np.ndarray:
    """Smooth displacement (mm, ~ template voxels): Gaussian values of standard deviation
    ``warp_mm`` at control points ``warp_spacing_mm`` apart, cubic B-spline interpolated."""
    extent = np.asarray(shape) * np.asarray(spacing)
    points = [max(2, math.ceil(e / settings.warp_spacing_mm) + 1) for e in extent]
    control = rng.standard_normal((3, *points)) * settings.warp_mm
    factors = [s / p for s, p in zip(shape, points, strict=True)]
    return np.stack([ndimage.zoom(c, factors, order=3) for c in control]).astype(np.float32)


def jacobian_determinant(coords: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Determinant of the transform's Jacobian at each case voxel (positive: no folding).

    Args:
        coords: ``(3, X, Y, Z)`` template voxel coordinates (1 mm voxels), as
            :func:`draw_warp` returns.
        spacing: the case's voxel size (mm).

    Example:
        >>> g = np.stack(np.meshgrid(*[np.arange(4.0)] * 3, indexing="ij"))
        >>> round(float(jacobian_determinant(2 * g, (1, 1, 1)).min()), 6)
        8.0
    """
    rows = [np.stack(np.gradient(c, *spacing)) for c in coords]  # d coords_a / d x_b
    jacobian = np.moveaxis(np.stack(rows), (0, 1), (-2, -1))
    return np.linalg.det(jacobian.astype(np.float64))


def _sample(volume: np.ndarray, coords: np.ndarray) -> np.ndarray:
    return ndimage.map_coordinates(volume, coords, order=1, mode="constant", prefilter=False)


@functools.lru_cache(maxsize=4)
def _smoothed(spacing: tuple[float, float, float]) -> dict[str, np.ndarray]:
    """The template's tissue maps blurred to ``spacing`` (mm), so coarse voxels average their
    partial volumes instead of aliasing; unblurred at 1 mm or finer."""
    template = load_template()
    sigma = [math.sqrt(max(s * s - 1.0, 0.0)) / 2.3548 for s in spacing]
    return {
        name: ndimage.gaussian_filter(getattr(template, name), sigma)
        if max(sigma)
        else getattr(template, name)
        for name in ("gm", "wm", "brain", "ventricles")
    }


def case_tissue(coords: np.ndarray, spacing: tuple[float, float, float]) -> dict[str, np.ndarray]:
    """The template's maps on the case's grid.

    Args:
        coords: :func:`draw_warp`'s output, shape ``(3, *shape)``.
        spacing: the case's voxel size (mm).

    Returns:
        ``gm``, ``wm``, ``csf`` (probabilities, float32), ``brain``, ``ventricles``,
        ``infratentorial`` (bool), ``ventricle_mm`` and ``cortex_mm`` (distances, float32),
        and ``classes`` (uint8, :data:`TISSUE_CLASSES`).

    Example:
        >>> coords = draw_warp(np.random.default_rng(0), PhantomSettings(), (8, 8, 8), (2, 2, 2))
        >>> sorted(case_tissue(coords, (2, 2, 2)))[:3]
        ['brain', 'classes', 'cortex_mm']
    """
    template: Template = load_template()
    maps = {name: _sample(v, coords) for name, v in _smoothed(tuple(spacing)).items()}
    brain = maps["brain"] > 0.5
    gm = np.clip(maps["gm"], 0, 1) * brain
    wm = np.clip(maps["wm"], 0, 1) * brain
    tissue = {
        "gm": gm,
        "wm": wm,
        "csf": np.clip(1.0 - gm - wm, 0, 1) * brain,
        "brain": brain,
        "ventricles": (maps["ventricles"] > 0.5) & brain,
        "infratentorial": _sample(template.infratentorial, coords) > 0.5,
        "ventricle_mm": _sample(template.ventricle_mm, coords),
        "cortex_mm": _sample(template.cortex_mm, coords),
    }
    tissue["classes"] = _classes(tissue)
    return tissue


def _classes(tissue: dict[str, np.ndarray]) -> np.ndarray:
    """The tissue map: the most probable tissue of each brain voxel, white matter wherever its
    probability reaches 0.5 (where lesions may lie)."""
    stack = np.stack([tissue["csf"], tissue["gm"], tissue["wm"]])
    classes = (1 + np.argmax(stack, axis=0)).astype(np.uint8)
    classes[tissue["wm"] >= 0.5] = TISSUE_CLASSES["wm"]
    classes[(classes == TISSUE_CLASSES["csf"]) & tissue["ventricles"]] = TISSUE_CLASSES[
        "ventricles"
    ]
    classes[(classes == TISSUE_CLASSES["wm"]) & tissue["infratentorial"]] = TISSUE_CLASSES[
        "infratentorial_wm"
    ]
    classes[~tissue["brain"]] = 0
    return classes


def flair_weights(
    rng: np.random.Generator, settings: PhantomSettings
) -> tuple[np.ndarray, np.ndarray]:
    """The (grey matter, white matter, CSF) signal of each time point: the settings' weights
    varied once per case (``contrast_case_sd``) and again per time point
    (``contrast_time_sd``).

    Example:
        >>> w1, w2 = flair_weights(np.random.default_rng(0), PhantomSettings())
        >>> bool(w1[0] > w1[1] > w1[2])
        True
    """
    case = np.asarray(settings.flair_weights) * (
        1 + settings.contrast_case_sd * rng.standard_normal(3)
    )
    w1, w2 = (case * (1 + settings.contrast_time_sd * rng.standard_normal(3)) for _ in range(2))
    return w1, w2


def flair(tissue: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The lesion-free FLAIR signal: the tissue probabilities weighted (float32)."""
    signal = weights[0] * tissue["gm"] + weights[1] * tissue["wm"] + weights[2] * tissue["csf"]
    return signal.astype(np.float32)


def acquire(
    rng: np.random.Generator,
    image: np.ndarray,
    white_matter: float,
    settings: PhantomSettings,
    spacing: tuple[float, float, float],
    motion: tuple[np.ndarray, np.ndarray],
    half: float,
) -> np.ndarray:
    """One time point as the scanner and the halfway registration leave it.

    A smooth multiplicative bias field, Rician noise (each complex channel of standard
    deviation ``settings.noise * white_matter``), then linear resampling by ``half`` (+0.5 or
    -0.5) of the residual rigid ``motion`` (rotation angles in degrees, translation in mm).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> still = (np.zeros(3), np.zeros(3))
        >>> out = acquire(rng, np.ones((8, 8, 8), np.float32), 1.0, PhantomSettings(),
        ...               (1, 1, 1), still, 0.5)
        >>> out.shape, out.dtype
        ((8, 8, 8), dtype('float32'))
    """
    biased = image * np.exp(settings.bias * smooth_field(rng, image.shape, 3))
    sigma = settings.noise * white_matter
    real = biased + sigma * rng.standard_normal(image.shape, dtype=np.float32)
    imaginary = sigma * rng.standard_normal(image.shape, dtype=np.float32)
    noisy = np.sqrt(real * real + imaginary * imaginary)
    angles, shift_mm = motion
    scale = np.diag(spacing)
    matrix = np.linalg.inv(scale) @ _rotation(half * angles) @ scale
    centre = (np.asarray(image.shape) - 1) / 2
    offset = centre - matrix @ centre + half * shift_mm / np.asarray(spacing)
    moved = ndimage.affine_transform(noisy, matrix, offset=offset, order=1, mode="nearest")
    return moved.astype(np.float32)


def _centre(lesion: Lesion) -> tuple[float, float, float]:
    """A lesion's centre of mass (voxels)."""
    x, y, z = ndimage.center_of_mass(lesion.field)
    return (lesion.box[0].start + x, lesion.box[1].start + y, lesion.box[2].start + z)


def anatomy_case(
    rng: np.random.Generator,
    size: tuple[int, int, int],
    spacing: tuple[float, float, float],
    settings: PhantomSettings,
    new_lesions: bool | None,
    centre: str,
) -> dict:
    """One anatomy case's arrays, in the order of the module's steps, lesions
    (:mod:`lossbench.data.lesion_model`) drawn into the middle space before the acquisition.

    Returns:
        ``baseline``, ``followup``, ``label``, ``brain_mask``, ``tissue`` and the lesions'
        ``new_lesion_centres``, ``new_lesion_locations`` and ``old_lesion_centres`` (the
        fields of :class:`lossbench.data.synthetic.SyntheticCase`).
    """
    tissue = case_tissue(draw_warp(rng, settings, size, spacing, centre), spacing)
    w1, w2 = flair_weights(rng, settings)
    sites = lesion_model.LesionSites(tissue)
    before, after, occupied = lesion_model.draw_old_lesions(rng, sites, spacing, settings)
    count = lesion_model.new_lesion_count(rng, settings, new_lesions)
    new = lesion_model.draw_new_lesions(rng, sites, spacing, settings, count, occupied)
    base, follow = flair(tissue, w1), flair(tissue, w2)
    lesion_model.paint(base, before, float(w1[1]))
    lesion_model.paint(follow, after + new, float(w2[1]))
    label = np.zeros(size, np.uint8)
    for lesion in new:
        label[lesion.box] |= lesion.field >= 0.5
    motion = (
        rng.uniform(-1, 1, 3) * settings.misregistration_deg,
        rng.uniform(-1, 1, 3) * settings.misregistration_mm,
    )
    return {
        "baseline": acquire(rng, base, float(w1[1]), settings, spacing, motion, 0.5),
        "followup": acquire(rng, follow, float(w2[1]), settings, spacing, motion, -0.5),
        "label": label,
        "brain_mask": tissue["brain"].astype(np.uint8),
        "tissue": tissue["classes"],
        "new_lesion_centres": [_centre(lesion) for lesion in new],
        "new_lesion_locations": [lesion.location for lesion in new],
        "old_lesion_centres": [_centre(lesion) for lesion in before],
    }
