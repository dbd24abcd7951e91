"""The metric benchmark's case (benchmarks/test_metric_speed.py), shared with the tests that
check ``evaluate_case`` on it: a 160x192x160 volume at 0.5 x 0.75 x 0.75 mm with five small
lesions and a perturbed prediction."""

from __future__ import annotations

import numpy as np

SPACING = (0.5, 0.75, 0.75)
"""Voxel size (mm) of the case, per array axis."""


def lesion_layout(spread: float) -> tuple[np.ndarray, np.ndarray]:
    """``(pred, ref)``: five ellipsoidal lesions (radii 2-5 voxels) centred in the central
    ``spread`` of each axis, and a prediction that shifts three of them by one voxel, misses one,
    and adds a false positive. Boolean masks of shape (160, 192, 160)."""
    rng = np.random.default_rng(0)
    shape = (160, 192, 160)
    grid = np.ogrid[tuple(slice(0, s) for s in shape)]
    ref, pred = np.zeros(shape, bool), np.zeros(shape, bool)
    low = np.maximum((np.array(shape) * (1 - spread) / 2).astype(int), 6)
    for k in range(6):
        centre = rng.integers(low, np.array(shape) - low)
        radii = rng.uniform(2, 5, size=3)
        shift = np.array([1, 0, 0]) if k < 3 else np.zeros(3, int)
        blob = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True)) <= 1
        moved = (
            sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre + shift, radii, strict=True))
            <= 1
        )
        if k < 5:
            ref |= blob
        if k != 3:
            pred |= moved  # lesion 3 is missed; blob 5 is a false positive
    return pred, ref
