"""NSD without a distance transform equals DeepMind's surface-distance package, including
lesions spread over a whole brain-sized volume and anisotropic voxels."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from lossbench.metrics import nsd


def _package(pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...], tol: float) -> float:
    surface_distance = pytest.importorskip("surface_distance")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        distances = surface_distance.compute_surface_distances(ref, pred, spacing)
    return float(surface_distance.compute_surface_dice_at_tolerance(distances, tol))


def _blobs(
    rng: np.random.Generator, shape: tuple[int, int, int], n: int, spread: float
) -> np.ndarray:
    """``n`` ellipsoids of radii 1-4 voxels, centred in the central ``spread`` of each axis."""
    grid = np.ogrid[tuple(slice(0, s) for s in shape)]
    mask = np.zeros(shape, bool)
    for _ in range(n):
        low = (np.array(shape) * (1 - spread) / 2).astype(int) + 1
        high = np.array(shape) - low
        centre = rng.integers(low, np.maximum(high, low + 1))
        radii = rng.uniform(1, 4, size=3)
        mask |= sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True)) <= 1
    return mask


@pytest.mark.parametrize("seed", range(12))
def test_equals_the_package_on_random_layouts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(12, 40)), int(rng.integers(12, 40)), int(rng.integers(12, 40)))
    spacing = tuple(float(s) for s in rng.choice([0.5, 0.75, 0.8, 1.0, 1.2, 3.0], size=3))
    spread = float(rng.choice([0.2, 0.6, 1.0]))
    ref = _blobs(rng, shape, int(rng.integers(1, 6)), spread)
    pred = _blobs(rng, shape, int(rng.integers(1, 6)), spread) | (ref & (rng.random(shape) < 0.8))
    for tol in (0.0, 0.5, 1.0, 2.0, 5.0):
        assert nsd(pred, ref, spacing, tol) == pytest.approx(
            _package(pred, ref, spacing, tol), abs=1e-12
        )


def test_equals_the_package_with_lesions_anywhere_in_a_brain_sized_volume() -> None:
    rng = np.random.default_rng(7)
    shape, spacing = (160, 192, 160), (0.5, 0.75, 0.75)
    ref = _blobs(rng, shape, 8, 1.0)
    pred = np.roll(ref, 1, axis=0) | _blobs(rng, shape, 2, 1.0)
    assert nsd(pred, ref, spacing) == pytest.approx(_package(pred, ref, spacing, 1.0), abs=1e-12)


def test_masks_touching_the_array_edge() -> None:
    ref = np.zeros((6, 7, 8), bool)
    ref[0, :3, :] = True
    pred = np.zeros_like(ref)
    pred[:2, 5:, 6:] = True
    for tol in (0.0, 1.0, 3.0):
        assert nsd(pred, ref, (1.0, 2.0, 0.5), tol) == pytest.approx(
            _package(pred, ref, (1.0, 2.0, 0.5), tol), abs=1e-12
        )
