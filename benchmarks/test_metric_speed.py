"""``evaluate_case`` (every metric) against MedPy's and MONAI's four distance calls.

A 160x192x160 case at 0.5 x 0.75 x 0.75 mm with five small lesions and a perturbed
prediction (:mod:`tests.metrics.layouts`, which the exactness tests share), in two layouts:
lesions in the central 60% of each axis, and anywhere in the volume (spread lesions make the
union's bounding box the whole brain). All three run in one session, so their medians can be
compared::

    pytest benchmarks/test_metric_speed.py --benchmark-json=metrics.json
    python benchmarks/ratios.py metrics.json
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from lossbench.metrics import evaluate_case
from tests.metrics.layouts import SPACING, lesion_layout

Case = tuple[str, np.ndarray, np.ndarray]


@pytest.fixture(
    scope="module", params=[("central 60%", 0.6), ("anywhere", 1.0)], ids=lambda p: p[0]
)
def case(request: pytest.FixtureRequest) -> Case:
    """``(layout, pred, ref)``: lesions in the central 60% of each axis, or anywhere."""
    name, spread = request.param
    return (name, *lesion_layout(spread))


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
