"""``evaluate_case`` (every metric) against MedPy's and MONAI's four distance calls.

One 160x192x160 case at 0.5 x 0.75 x 0.75 mm with five small lesions and a perturbed
prediction; all three run in one session, so their medians can be compared::

    pytest benchmarks/test_metric_speed.py --benchmark-json=metrics.json
    python benchmarks/ratios.py metrics.json
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lossbench.metrics import evaluate_case

SPACING = (0.5, 0.75, 0.75)


@pytest.fixture(scope="module")
def case() -> tuple[np.ndarray, np.ndarray]:
    """Five ellipsoidal lesions (radii 2-5 voxels) and a prediction that shifts three of them by
    one voxel, misses one, and adds a false positive."""
    rng = np.random.default_rng(0)
    shape = (160, 192, 160)
    grid = np.ogrid[tuple(slice(0, s) for s in shape)]
    ref, pred = np.zeros(shape, bool), np.zeros(shape, bool)
    for k in range(6):
        centre = rng.integers(30, np.array(shape) - 30)
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


def test_evaluate_case(benchmark, case) -> None:
    benchmark.group = "surface distances"
    benchmark(evaluate_case, *case, SPACING)


def test_medpy(benchmark, case) -> None:
    binary = pytest.importorskip("medpy.metric.binary")
    benchmark.group = "surface distances"

    def four(pred: np.ndarray, ref: np.ndarray) -> tuple[float, ...]:
        return tuple(
            f(pred, ref, SPACING) for f in (binary.hd, binary.hd95, binary.asd, binary.assd)
        )

    benchmark(four, *case)


def test_monai(benchmark, case) -> None:
    metrics = pytest.importorskip("monai.metrics")
    benchmark.group = "surface distances"

    def four(pred: np.ndarray, ref: np.ndarray) -> tuple[float, ...]:
        p, r = (torch.from_numpy(m)[None, None] for m in (pred, ref))
        return (
            metrics.compute_hausdorff_distance(p, r, spacing=SPACING),
            metrics.compute_hausdorff_distance(p, r, percentile=95, spacing=SPACING),
            metrics.compute_average_surface_distance(p, r, spacing=SPACING),
            metrics.compute_average_surface_distance(p, r, symmetric=True, spacing=SPACING),
        )

    benchmark(four, *case)
