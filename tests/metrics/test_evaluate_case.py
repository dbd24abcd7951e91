"""``evaluate_case`` shares its work between the metrics (one voxel listing, one border, one
labelling per mask); every value must stay exactly what the public single-metric functions give
on their own, key by key, NaN where NaN, on layouts chosen to reach every branch."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from lossbench.metrics import (
    METRIC_KEYS,
    asd,
    assd,
    dice,
    evaluate_case,
    hd,
    hd95,
    jaccard,
    lesion_detection,
    nsd,
    precision,
    recall,
)
from tests.metrics.layouts import SPACING, lesion_layout

SHAPE = (9, 10, 11)


def _box(corner: tuple[int, int, int], size: tuple[int, int, int]) -> np.ndarray:
    mask = np.zeros(SHAPE, bool)
    mask[tuple(slice(c, c + s) for c, s in zip(corner, size, strict=True))] = True
    return mask


def _blobs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded blobs of 1-3 voxel radius; the prediction shifts, grows or drops some."""
    rng = np.random.default_rng(seed)
    seeds = np.zeros(SHAPE, bool)
    seeds[tuple(rng.integers(0, SHAPE, size=(6, 3)).T)] = True
    ref = ndimage.binary_dilation(seeds, iterations=int(rng.integers(1, 3)))
    pred = np.roll(ref, int(rng.integers(-2, 3)), axis=int(rng.integers(3)))
    pred[rng.random(SHAPE) < 0.02] = True
    return pred, ref


def _cases() -> Iterator[Any]:
    """``pytest.param(pred, ref, spacing, rule)`` for every layout the metrics branch on."""
    empty = np.zeros(SHAPE, bool)
    cube = _box((2, 3, 4), (3, 3, 3))
    yield pytest.param(empty, empty, (1.0, 1.0, 1.0), {}, id="both empty")
    yield pytest.param(empty, cube, (1.0, 1.0, 1.0), {}, id="empty pred")
    yield pytest.param(cube, empty, (1.0, 1.0, 1.0), {}, id="empty ref")
    yield pytest.param(cube, cube, (0.5, 0.75, 1.25), {}, id="identical")
    full = np.ones(SHAPE, bool)
    yield pytest.param(full, cube, (1.0, 1.0, 1.0), {}, id="a mask that fills the image")
    dots = np.zeros(SHAPE, bool)
    dots[(0, 4, 8, 8), (0, 5, 9, 0), (0, 5, 10, 10)] = True
    moved = np.roll(dots, 1, axis=2) | _box((4, 5, 5), (1, 1, 1))
    for limit in (3.0, 0.0):  # one-voxel lesions dropped, then kept
        rule = {"min_lesion_mm3": limit}
        yield pytest.param(moved, dots, (1.0, 1.0, 1.0), rule, id=f"one-voxel lesions {limit}")
    # two cubes sharing a face; two sharing an edge; two sharing a corner
    face = _box((1, 1, 1), (2, 2, 2)) | _box((3, 1, 1), (2, 2, 2))
    edge = _box((1, 5, 1), (2, 2, 2)) | _box((3, 7, 1), (2, 2, 2))
    corner = _box((5, 1, 6), (2, 2, 2)) | _box((7, 3, 8), (2, 2, 2))
    for connectivity in (6, 26):
        rule = {"connectivity": connectivity, "min_lesion_mm3": 0.0}
        yield pytest.param(
            face | corner, edge | face, (1.0, 1.0, 1.0), rule, id=f"touching {connectivity}"
        )
    # lesions in the volume's corners and along its faces, the prediction partly moved
    at_edges = np.zeros(SHAPE, bool)
    for corner_at in ((0, 0, 0), (7, 8, 9), (0, 8, 0), (7, 0, 9)):
        at_edges |= _box(corner_at, (2, 2, 2))
    at_edges |= _box((3, 0, 3), (3, 1, 4)) | _box((0, 4, 4), (9, 2, 2))
    yield pytest.param(
        np.roll(at_edges, 1, axis=0), at_edges, (0.7, 1.1, 0.9), {}, id="faces and corners"
    )
    for seed in range(6):
        pred, ref = _blobs(seed)
        spacing = tuple(float(s) for s in np.random.default_rng(seed).uniform(0.4, 1.6, size=3))
        rule = {"nsd_tolerance_mm": (0.0, 1.0, 2.5)[seed % 3], "connectivity": (6, 26)[seed % 2]}
        yield pytest.param(pred, ref, spacing, rule, id=f"anisotropic blobs {seed}")
    for spread, name in ((0.6, "central 60%"), (1.0, "anywhere")):
        pred, ref = lesion_layout(spread)
        yield pytest.param(pred, ref, SPACING, {}, id=f"benchmark, lesions {name}")


def _one_by_one(
    pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...], rule: dict[str, Any]
) -> dict[str, Any]:
    """Every key of :func:`evaluate_case` from the public single-metric functions."""
    tolerance = rule.get("nsd_tolerance_mm", 1.0)
    lesion_rule = {k: v for k, v in rule.items() if k != "nsd_tolerance_mm"}
    lesions = lesion_detection(pred, ref, spacing, **lesion_rule)
    voxel_mm3 = float(np.prod(spacing))
    return {
        "dice": dice(pred, ref),
        "jaccard": jaccard(pred, ref),
        "precision": precision(pred, ref),
        "recall": recall(pred, ref),
        "hd": hd(pred, ref, spacing),
        "hd95": hd95(pred, ref, spacing),
        "asd": asd(pred, ref, spacing),
        "assd": assd(pred, ref, spacing),
        "nsd": nsd(pred, ref, spacing, tolerance_mm=tolerance),
        "lesion_precision": lesions.precision,
        "lesion_recall": lesions.recall,
        "lesion_f1": lesions.f1,
        "n_ref_lesions": lesions.n_ref,
        "n_pred_lesions": lesions.n_pred,
        "n_fp_lesions": lesions.n_fp,
        "fp_volume_mm3": lesions.fp_volume_mm3,
        "ref_volume_mm3": int(ref.sum()) * voxel_mm3,
        "pred_volume_mm3": int(pred.sum()) * voxel_mm3,
        "ref_empty": not ref.any(),
        "pred_empty": not pred.any(),
        "diagonal_mm": float(np.sqrt(np.sum((np.asarray(pred.shape) * spacing) ** 2))),
    }


def assert_identical(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Same keys in the same order, each value of the same type and equal, NaN where NaN."""
    assert list(got) == list(expected)
    for key, value in expected.items():
        same = value == got[key] or (math.isnan(value) and math.isnan(got[key]))
        assert type(got[key]) is type(value) and same, (key, got[key], value)


@pytest.mark.parametrize(("pred", "ref", "spacing", "rule"), _cases())
def test_equals_the_metrics_one_by_one(pred, ref, spacing, rule) -> None:
    row = evaluate_case(pred, ref, spacing, **rule)
    assert tuple(row) == METRIC_KEYS
    assert_identical(row, _one_by_one(pred, ref, spacing, rule))


# the benchmark's two layouts as lossbench scored them before evaluate_case shared its work
RECORDED = {
    0.6: {
        "hd": 23.08137777516758,
        "hd95": 21.232345607586552,
        "asd": 5.992027954257608,
        "assd": 5.377231137678774,
    },
    1.0: {
        "hd": 36.10920935163217,
        "hd95": 34.292117979747104,
        "asd": 9.69461127762673,
        "assd": 8.588427334390918,
    },
}
RECORDED_BOTH = {
    "dice": 0.5429799426934098,
    "jaccard": 0.3726647000983284,
    "precision": 0.5256588072122053,
    "recall": 0.5614814814814815,
    "nsd": 0.7360475074385212,
    "lesion_precision": 0.8,
    "lesion_recall": 0.8,
    "lesion_f1": 0.8000000000000002,
    "n_ref_lesions": 5,
    "n_pred_lesions": 5,
    "n_fp_lesions": 1,
    "fp_volume_mm3": 65.53125,
    "ref_volume_mm3": 189.84375,
    "pred_volume_mm3": 202.78125,
    "ref_empty": False,
    "pred_empty": False,
    "diagonal_mm": 203.80382724571194,
}


@pytest.mark.parametrize("spread", [0.6, 1.0])
def test_the_benchmark_layouts_keep_their_recorded_values(spread: float) -> None:
    row = evaluate_case(*lesion_layout(spread), SPACING)
    assert row == {key: {**RECORDED[spread], **RECORDED_BOTH}[key] for key in METRIC_KEYS}


@pytest.mark.parametrize("seed", range(3))
def test_memory_order_does_not_change_the_metrics(seed: int) -> None:
    # NIfTI readers give Fortran-ordered arrays; views may have any strides
    pred, ref = _blobs(seed)
    expected = evaluate_case(pred, ref, (0.8, 1.0, 1.2))
    fortran = evaluate_case(np.asfortranarray(pred), np.asfortranarray(ref), (0.8, 1.0, 1.2))
    assert_identical(fortran, expected)
    swapped = evaluate_case(pred.T, ref.T, (1.2, 1.0, 0.8))  # a Fortran-ordered view
    assert_identical(swapped, evaluate_case(pred.T.copy(), ref.T.copy(), (1.2, 1.0, 0.8)))
    strided = np.zeros((2 * SHAPE[0], *SHAPE[1:]), bool)
    strided[::2] = ref
    assert_identical(evaluate_case(pred, strided[::2], (0.8, 1.0, 1.2)), expected)
