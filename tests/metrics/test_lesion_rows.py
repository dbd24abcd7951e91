"""The per-lesion rows of ``evaluate_case_lesions``: the lesions that lesion F1 counts, one row
each, with volumes that scipy's labelling gives and regions read from a code map."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from lossbench.metrics import evaluate_case, evaluate_case_lesions, lesion_detection
from tests.metrics.layouts import SPACING, lesion_layout

VOXEL_MM3 = SPACING[0] * SPACING[1] * SPACING[2]


def _random(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    seeds = np.zeros((12, 14, 16), bool)
    seeds[tuple(rng.integers(0, seeds.shape, size=(8, 3)).T)] = True
    ref = ndimage.binary_dilation(seeds, iterations=int(rng.integers(1, 3)))
    pred = np.roll(ref, int(rng.integers(-2, 3)), axis=int(rng.integers(3)))
    pred[rng.random(ref.shape) < 0.03] = True
    return pred, ref


@pytest.mark.parametrize("seed", range(6))
def test_rows_are_the_lesions_that_lesion_f1_counts(seed: int) -> None:
    pred, ref = _random(seed)
    metrics, rows = evaluate_case_lesions(pred, ref, SPACING, min_lesion_mm3=1.0)
    assert metrics == evaluate_case(pred, ref, SPACING, min_lesion_mm3=1.0)
    detection = lesion_detection(pred, ref, SPACING, min_lesion_mm3=1.0)
    for side, mask, n, hits in (
        ("ref", ref, detection.n_ref, detection.ref_detected),
        ("pred", pred, detection.n_pred, detection.pred_detected),
    ):
        mine = [r for r in rows if r["side"] == side]
        assert [r["lesion"] for r in mine] == list(range(1, n + 1))
        assert sum(r["detected"] for r in mine) == hits
        labels, _ = ndimage.label(mask)  # 6-connected, as anima
        sizes = np.bincount(labels.ravel())[1:] * VOXEL_MM3
        kept = sorted(s for s in sizes if s > 1.0)[::-1]  # numbered by decreasing size
        assert [r["volume_mm3"] for r in mine] == pytest.approx(kept)
    missed = [r["volume_mm3"] for r in rows if r["side"] == "pred" and not r["detected"]]
    assert sum(missed) == pytest.approx(metrics["fp_volume_mm3"])
    assert all("location" not in r for r in rows)


def test_the_benchmark_case_rows() -> None:
    """Five reference lesions, one missed; six predicted ones less the missed, one of them
    false."""
    pred, ref = lesion_layout(0.5)
    _, rows = evaluate_case_lesions(pred, ref, SPACING)
    refs = [r for r in rows if r["side"] == "ref"]
    preds = [r for r in rows if r["side"] == "pred"]
    assert (len(refs), sum(r["detected"] for r in refs)) == (5, 4)
    assert (len(preds), sum(not r["detected"] for r in preds)) == (5, 1)


def test_a_lesion_takes_the_first_region_any_of_its_voxels_lies_in() -> None:
    ref = np.zeros((4, 4, 12), bool)
    ref[1:3, 1:3, 1:4] = True  # in region 3 only
    ref[1:3, 1:3, 6:9] = True  # touches region 1 at its last slice
    regions = np.full(ref.shape, 3, np.int16)
    regions[..., 8:] = 1
    regions[0] = 0
    names = ("infratentorial", "periventricular", "deep")
    _, rows = evaluate_case_lesions(ref, ref, (1, 1, 1), regions=regions, region_names=names)
    assert [(r["side"], r["location"]) for r in rows] == [
        ("ref", "deep"),
        ("ref", "infratentorial"),
        ("pred", "deep"),
        ("pred", "infratentorial"),
    ]  # equal sizes: raster order, axis 0 fastest, so the lesion at z 1-3 is first
    outside = np.zeros_like(regions)
    _, rows = evaluate_case_lesions(ref, ref, (1, 1, 1), regions=outside, region_names=names)
    assert {r["location"] for r in rows} == {""}


def test_a_bad_region_map_is_refused() -> None:
    mask = np.zeros((3, 3, 3), bool)
    with pytest.raises(ValueError, match="shape"):
        evaluate_case_lesions(mask, mask, regions=np.zeros((3, 3, 4), int))
    with pytest.raises(ValueError, match="integer"):
        evaluate_case_lesions(mask, mask, regions=np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match=">= 0"):
        evaluate_case_lesions(mask, mask, regions=np.full((3, 3, 3), -1))
