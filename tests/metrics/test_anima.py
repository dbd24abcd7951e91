"""Lesion detection against a transcription of animaSegPerfAnalyzer's C++ (tests/_helpers/anima):
the minimal cases of each convention, its ITK labelling, random layouts and random overlap
tables."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, reject, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lossbench.metrics import evaluate_case, label_lesions, lesion_detection
from lossbench.metrics.lesions import detected
from tests._helpers import anima

UNIT = (1.0, 1.0, 1.0)


def same(a: float, b: float) -> bool:
    """Equal, NaN included: the conventions are exact, so no tolerance."""
    return (math.isnan(a) and math.isnan(b)) or a == b


def assert_equals_anima(pred, ref, spacing, **rule) -> None:
    """lesion_detection (and evaluate_case's lesion columns) give anima's outputs exactly."""
    connectivity = rule.pop("connectivity", 6)
    expected = anima.seg_perf_analyzer(
        pred,
        ref,
        spacing,
        fully_connected=connectivity == 26,
        min_volume=rule.get("min_lesion_mm3", anima.MIN_VOLUME),
        **{k: v for k, v in rule.items() if k != "min_lesion_mm3"},
    )
    got = lesion_detection(pred, ref, spacing, connectivity=connectivity, **rule)
    row = evaluate_case(pred, ref, spacing, connectivity=connectivity, **rule)
    for value, key in ((got.precision, "ppvl"), (got.recall, "sensl"), (got.f1, "f1")):
        assert same(value, expected[key]), (key, value, expected[key])
    for column, key in (
        ("lesion_precision", "ppvl"),
        ("lesion_recall", "sensl"),
        ("lesion_f1", "f1"),
    ):
        assert same(row[column], expected[key]), (column, row[column], expected[key])
    if "n_tested_lesions" in expected:  # anima's empty-ground-truth branch
        assert got.ref_empty and got.n_ref == 0
        assert got.n_fp == row["n_fp_lesions"] == expected["n_tested_lesions"]
        assert got.fp_volume_mm3 == row["fp_volume_mm3"] == expected["volume_tested_lesions"]
    else:
        assert not got.ref_empty
        assert (got.n_ref, got.n_pred, got.ref_detected, got.pred_detected) == (
            expected["n_ref"],
            expected["n_test"],
            expected["tp_ref"],
            expected["tp_test"],
        )


# ---- the gamma test sums the shares one by one in floating point --------------------------------


def split_lesion() -> tuple[np.ndarray, np.ndarray]:
    """One 43-voxel reference lesion along x; predicted pieces cover 14, 12, 11 and 3 of it
    (one-voxel gaps). The 11-voxel piece has 33 more voxels outside (75 % > beta); the 3-voxel
    piece has one voxel outside, so that it is a lesion (4 voxels > 3 mm^3) and not discarded."""
    ref = np.zeros((44, 5, 2), bool)
    ref[0:43, 0, 0] = True
    pred = np.zeros_like(ref)
    pred[0:14, 0, 0] = True
    pred[15:27, 0, 0] = True
    pred[28:39, 0:4, 0] = True
    pred[40:43, 0, 0] = True
    pred[42, 1, 0] = True
    return pred, ref


def test_gamma_sums_shares_in_floating_point() -> None:
    # 14/40 + 12/40 = 0.6499999999999999 < 0.65, so anima also checks the 11-voxel piece,
    # which is 75 % outside the reference: the lesion is missed
    pred, ref = split_lesion()
    for connectivity in (6, 26):
        result = lesion_detection(pred, ref, UNIT, connectivity=connectivity)
        assert (result.n_ref, result.n_pred, result.pred_detected) == (1, 4, 4)
        assert result.recall == 0.0 and result.precision == 1.0 and result.f1 == 0.0
        assert_equals_anima(pred, ref, UNIT, connectivity=connectivity)


def test_gamma_of_one_goes_on_to_the_lesions_that_do_not_overlap() -> None:
    # ten one-voxel pieces each cover 1/10 of the overlap: 0.1 added ten times is
    # 0.9999999999999999 < 1, so anima's loop goes on to the predicted lesion that does not
    # touch the reference lesion, which lies wholly outside (1 > beta): the lesion is missed
    ref = np.zeros((20, 5, 1), bool)
    ref[0:19, 0, 0] = True
    pred = np.zeros_like(ref)
    pred[0:19:2, 0, 0] = True
    pred[0:5, 3, 0] = True
    result = lesion_detection(pred, ref, UNIT, min_lesion_mm3=0.0, gamma=1.0)
    assert (result.n_ref, result.n_pred, result.pred_detected) == (1, 11, 10)
    assert result.recall == 0.0
    assert_equals_anima(pred, ref, UNIT, min_lesion_mm3=0.0, gamma=1.0)


# ---- equal overlap and size break in ITK's raster order (x fastest) -----------------------------


def tied_pieces() -> tuple[np.ndarray, np.ndarray]:
    """Reference lesion A (11 x 1 x 3 voxels) is covered by X (11 voxels), P and Q (5 each).
    P and Q both have 17 voxels; P's other 12 are a one-voxel bridge and all of reference lesion
    B, Q's other 12 lie outside every lesion (12/17 > beta). X then one of P and Q make
    16/21 >= gamma. ITK numbers P before Q (its first voxel, x fastest, comes first: z = 0),
    numpy's C order numbers Q first (x = 0)."""
    ref, pred = np.zeros((12, 4, 7), bool), np.zeros((12, 4, 7), bool)
    ref[0:11, 0, 0:3] = True  # A
    ref[6:11, 2, 1:3] = ref[10, 2, 0] = True  # B
    pred[0:11, 0, 0] = True  # X
    pred[0:5, 0, 2:5] = pred[0:2, 0, 5] = True  # Q
    pred[6:11, 0, 2] = pred[6, 1, 2] = True  # P, in A and the bridge
    pred[6:11, 2, 1:3] = pred[10, 2, 0] = True  # P, in B
    return pred, ref


@pytest.mark.parametrize("connectivity", [6, 26])
def test_ties_break_in_itk_raster_order(connectivity: int) -> None:
    pred, ref = tied_pieces()
    result = lesion_detection(pred, ref, UNIT, connectivity=connectivity)
    assert (result.n_ref, result.n_pred) == (2, 3)
    assert result.recall == 1.0 and result.precision == 1.0
    assert_equals_anima(pred, ref, UNIT, connectivity=connectivity)
    # the same layout with x and z swapped: now Q comes first in ITK's order and A is missed
    swapped = lesion_detection(pred.swapaxes(0, 2), ref.swapaxes(0, 2), UNIT)
    assert swapped.recall == 0.5
    assert_equals_anima(pred.swapaxes(0, 2), ref.swapaxes(0, 2), UNIT)


@pytest.mark.parametrize("seed", range(40))
def test_label_lesions_numbers_as_itk(seed: int) -> None:
    # ITK's ConnectedComponentImageFilter then RelabelComponentImageFilter: decreasing size,
    # equal sizes by the raster position (x fastest) of their first voxel
    rng = np.random.default_rng(seed)
    mask = rng.random(tuple(rng.integers(3, 11, size=3))) < rng.uniform(0.1, 0.5)
    spacing = tuple(float(s) for s in rng.choice([0.5, 0.8, 1.0, 1.5], size=3))
    min_mm3 = float(rng.choice([0.0, 1.0, 3.0]))
    for connectivity in (6, 26):
        labels, n = label_lesions(mask, spacing, min_lesion_mm3=min_mm3, connectivity=connectivity)
        expected, n_expected = anima.lesion_labels(mask, spacing, min_mm3, connectivity == 26)
        assert n == n_expected
        np.testing.assert_array_equal(labels, expected)


# ---- reference lesions all below the size limit -------------------------------------------------


def test_reference_with_only_small_lesions_takes_animas_normal_branch() -> None:
    # the reference has voxels, so anima does not take its empty-ground-truth branch: precision
    # is 0 (no detected lesion), recall 0/0 = NaN, and F1 falls to its "else 0" branch
    ref = np.zeros((8, 8, 8), bool)
    ref[1, 1, 1:4] = True  # 3 voxels = 3 mm^3: discarded
    pred = np.zeros_like(ref)
    pred[4:7, 4:7, 4:7] = True
    for p in (pred, np.zeros_like(ref)):
        result = lesion_detection(p, ref, UNIT)
        assert result.n_ref == 0 and not result.ref_empty
        assert result.precision == 0.0 and math.isnan(result.recall) and result.f1 == 0.0
        assert_equals_anima(p, ref, UNIT)
    row = evaluate_case(pred, ref, UNIT)
    assert row["n_fp_lesions"] == 1 and row["fp_volume_mm3"] == 27.0  # kept as extra information
    assert row["lesion_precision"] == 0.0 and row["lesion_f1"] == 0.0


def test_empty_reference_takes_animas_empty_branch() -> None:
    ref = np.zeros((8, 8, 8), bool)
    pred = np.zeros_like(ref)
    pred[4:7, 4:7, 4:7] = True
    pred[0, 0, 0:2] = True  # 2 mm^3: not a lesion
    for p in (pred, np.zeros_like(ref)):
        result = lesion_detection(p, ref, (1.0, 0.5, 2.0))
        assert result.ref_empty and math.isnan(result.f1) and math.isnan(result.precision)
        assert_equals_anima(p, ref, (1.0, 0.5, 2.0))


# ---- alpha and beta compare ratios, as anima ----------------------------------------------------


def test_alpha_compares_the_covered_share() -> None:
    # 29/50 = 0.58 is not > 0.58; the product form 0.58 * 50 = 28.999999999999996 < 29 was
    ref = np.zeros((52, 3, 3), bool)
    ref[0:50, 1, 1] = True
    pred = np.zeros_like(ref)
    pred[0:29, 1, 1] = True
    result = lesion_detection(pred, ref, UNIT, alpha=0.58)
    assert result.ref_detected == 0
    assert_equals_anima(pred, ref, UNIT, alpha=0.58)


def test_beta_compares_the_outside_share() -> None:
    # 3 of the predicted lesion's 10 voxels are outside: 3/10 = 0.3 is not > 0.3, where the
    # complement form 1 - 7/10 = 0.30000000000000004 was
    ref = np.zeros((12, 3, 3), bool)
    ref[0:7, 1, 1] = True
    pred = np.zeros_like(ref)
    pred[0:10, 1, 1] = True
    result = lesion_detection(pred, ref, UNIT, beta=0.3)
    assert result.ref_detected == 1
    assert_equals_anima(pred, ref, UNIT, beta=0.3)


# ---- thresholds outside (0, 1] ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alpha", "beta", "gamma"])
@pytest.mark.parametrize("value", [0, 0.0, -0.1, 1.5, float("nan"), True])
def test_thresholds_outside_the_unit_interval_are_refused(name: str, value: float) -> None:
    mask = np.ones((3, 3, 3), bool)
    threshold: dict[str, Any] = {name: value}
    with pytest.raises(ValueError, match=rf"`{name}` must be a number in \(0, 1\], got {value!r}"):
        lesion_detection(mask, mask, UNIT, **threshold)


def test_thresholds_of_one_are_accepted() -> None:
    pred, ref = split_lesion()
    result = lesion_detection(pred, ref, UNIT, alpha=1.0, beta=1.0, gamma=1.0)
    assert result.recall == 0.0  # 40 of 43 voxels covered: not more than all of them
    assert_equals_anima(pred, ref, UNIT, alpha=1.0, beta=1.0, gamma=1.0)


# ---- random layouts -----------------------------------------------------------------------------


def random_layout(seed: int) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], dict]:
    """Small random masks of many kinds (noise with many equal-size lesions, boxes, blobs, the
    prediction a perturbed reference or an independent mask), random spacing, connectivity and
    rule parameters."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(4, 13, size=3))

    def lesions() -> np.ndarray:
        kind = rng.integers(3)
        if kind == 0:
            return rng.random(shape) < rng.uniform(0.05, 0.35)
        mask = np.zeros(shape, bool)
        for _ in range(int(rng.integers(1, 6))):
            lo = [int(rng.integers(0, s)) for s in shape]
            hi = [
                int(rng.integers(a + 1, min(s, a + 5) + 1)) for a, s in zip(lo, shape, strict=True)
            ]
            mask[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = True
        if kind == 2:
            mask &= rng.random(shape) < 0.8
        return mask

    ref = lesions()
    op = rng.integers(4)
    if op == 0:
        pred = lesions()
    elif op == 1:
        pred = ref ^ (rng.random(shape) < rng.uniform(0.02, 0.2))
    elif op == 2:
        pred = np.roll(ref, int(rng.integers(-2, 3)), axis=int(rng.integers(3))) | lesions()
    else:
        pred = ref & (rng.random(shape) < 0.7)
    if rng.random() < 0.1:
        ref = ref & (rng.random(shape) < 0.1)  # mostly small leftovers
    for mask in (pred, ref):
        if mask.all():
            mask[tuple(int(rng.integers(s)) for s in shape)] = False
    spacing = [
        (1.0, 1.0, 1.0),
        (0.5, 0.75, 0.75),
        (1.0, 1.0, 3.0),
        tuple(float(s) for s in rng.uniform(0.3, 2.0, size=3)),
    ][int(rng.integers(4))]
    rule: dict = {"connectivity": int(rng.choice([6, 26]))}
    if rng.random() < 0.5:
        exact = [0.1, 0.25, 0.3, 0.5, 0.58, 0.65, 0.7, 0.75, 1.0]
        for name in ("alpha", "beta", "gamma"):
            rule[name] = (
                float(rng.choice(exact)) if rng.random() < 0.7 else float(rng.uniform(0.01, 1))
            )
        rule["min_lesion_mm3"] = float(rng.choice([0.0, 1.0, 2.5, 3.0, 5.0]))
    return pred, ref, spacing, rule


@pytest.mark.parametrize("seed", range(300))
def test_equals_anima_on_random_layouts(seed: int) -> None:
    pred, ref, spacing, rule = random_layout(seed)
    try:
        assert_equals_anima(pred, ref, spacing, **rule)
    except anima.NotDeterminedByAnima as reason:
        pytest.skip(f"anima's own result is not determined: {reason}")


# ---- random overlap tables: the detection step alone --------------------------------------------

THRESHOLDS = st.one_of(
    st.sampled_from([0.1, 0.25, 0.3, 0.5, 0.58, 0.65, 0.7, 1.0]),
    st.floats(0.001, 1.0),
)


@st.composite
def overlap_tables(draw) -> np.ndarray:
    """anima's overlap table: row/column 0 the background, every lesion with at least one voxel."""
    n_a, n_b = draw(st.integers(1, 5)), draw(st.integers(1, 9))
    cells = st.sampled_from([0, 0, 0, 1, 2, 3, 5, 7, 11, 12, 14, 33])
    tab = draw(arrays(np.int64, (n_a + 1, n_b + 1), elements=cells))
    tab[1:, 0] += tab[1:].sum(axis=1) == 0
    tab[0, 1:] += tab[:, 1:].sum(axis=0) == 0
    return tab


@settings(max_examples=400, deadline=None, derandomize=True)
@given(tab=overlap_tables(), alpha=THRESHOLDS, beta=THRESHOLDS, gamma=THRESHOLDS)
@example(tab=np.array([[0, 0, 0, 33, 1], [3, 14, 12, 11, 3]]), alpha=0.1, beta=0.7, gamma=0.65)
@example(tab=np.array([[0] * 11 + [5], [0] + [1] * 10 + [0]]), alpha=0.1, beta=0.7, gamma=1.0)
def test_detected_equals_anima_on_overlap_tables(tab, alpha, beta, gamma) -> None:
    thresholds = anima.Thresholds(alpha, beta, gamma)
    n_a, n_b = tab.shape[0] - 1, tab.shape[1] - 1
    for table in (tab, tab.T):
        try:
            expected = anima.true_positive_lesions(
                table.shape[0], table.shape[1], table.tolist(), thresholds
            )
        except anima.NotDeterminedByAnima:
            reject()
        got = detected(
            table[1:, 1:], table[1:].sum(axis=1), table[:, 1:].sum(axis=0), alpha, beta, gamma
        )
        assert got.tolist() == expected, (n_a, n_b)


# ---- where lossbench departs from anima on purpose ----------------------------------------------


def test_a_mask_filling_the_whole_image_is_not_read_as_empty() -> None:
    # anima's formatLabels maps an image's distinct values to 0, 1, ...: a prediction that fills
    # the image becomes all 0, so against an empty reference it scores no false positive at all;
    # lossbench counts it as the one false-positive lesion it is
    ref = np.zeros((6, 6, 6), bool)
    pred = np.ones_like(ref)
    expected = anima.seg_perf_analyzer(pred, ref, UNIT)
    assert expected["n_tested_lesions"] == 0 and expected["volume_tested_lesions"] == 0.0
    result = lesion_detection(pred, ref, UNIT)
    assert result.ref_empty and result.n_fp == 1 and result.fp_volume_mm3 == 216.0
