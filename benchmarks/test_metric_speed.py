"""``evaluate_case`` (every metric) against MedPy's and MONAI's four distance calls.

A 160x192x160 case at 0.5 x 0.75 x 0.75 mm with five small lesions and a perturbed
prediction, in two layouts: lesions in the central 60% of each axis, and anywhere in the volume
(spread lesions make the union's bounding box the whole brain). All three run in one session,
so their medians can be compared::

    pytest benchmarks/test_metric_speed.py --benchmark-json=metrics.json
    python benchmarks/ratios.py metrics.json
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from lossbench.metrics import evaluate_case

SPACING = (0.5, 0.75, 0.75)


def _layout(spread: float) -> tuple[np.ndarray, np.ndarray]:
    """Five ellipsoidal lesions (radii 2-5 voxels) centred in the central ``spread`` of each
    axis, and a prediction that shifts three of them by one voxel, misses one, and adds a false
    positive."""
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


Case = tuple[str, np.ndarray, np.ndarray]


@pytest.fixture(
    scope="module", params=[("central 60%", 0.6), ("anywhere", 1.0)], ids=lambda p: p[0]
)
def case(request: pytest.FixtureRequest) -> Case:
    """``(layout, pred, ref)``: lesions in the central 60% of each axis, or anywhere."""
    name, spread = request.param
    return (name, *_layout(spread))


def test_evaluate_case(benchmark: Any, case: Case) -> None:
    name, pred, ref = case
    benchmark.group = f"surface distances, lesions {name}"
    benchmark(evaluate_case, pred, ref, SPACING)


def test_medpy(benchmark: Any, case: Case) -> None:
    binary = pytest.importorskip("medpy.metric.binary")
    name, pred, ref = case
    benchmark.group = f"surface distances, lesions {name}"

    def four(pred: np.ndarray, ref: np.ndarray) -> tuple[float, ...]:
        return tuple(
            f(pred, ref, SPACING) for f in (binary.hd, binary.hd95, binary.asd, binary.assd)
        )

    benchmark(four, pred, ref)


def test_monai(benchmark: Any, case: Case) -> None:
    metrics = pytest.importorskip("monai.metrics")
    name, pred, ref = case
    benchmark.group = f"surface distances, lesions {name}"

    def four(pred: np.ndarray, ref: np.ndarray) -> tuple[float, ...]:
        p, r = (torch.from_numpy(m)[None, None] for m in (pred, ref))
        return (
            metrics.compute_hausdorff_distance(p, r, spacing=SPACING),
            metrics.compute_hausdorff_distance(p, r, percentile=95, spacing=SPACING),
            metrics.compute_average_surface_distance(p, r, spacing=SPACING),
            metrics.compute_average_surface_distance(p, r, symmetric=True, spacing=SPACING),
        )

    benchmark(four, pred, ref)
