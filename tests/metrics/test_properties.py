"""hypothesis invariants of the metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lossbench.metrics import evaluate_case

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
SYMMETRIC = ("dice", "jaccard", "hd", "hd95", "assd", "nsd")
DISTANCES = ("hd", "hd95", "asd", "assd")


@st.composite
def mask_pairs(draw):
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=3, max_size=3)))
    pred = draw(arrays(np.bool_, shape))
    ref = draw(arrays(np.bool_, shape))
    return pred, ref


spacings = st.tuples(*[st.floats(0.3, 3.0)] * 3)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12)


@SETTINGS
@given(masks=mask_pairs(), spacing=spacings)
def test_symmetric_under_swapping(masks, spacing) -> None:
    pred, ref = masks
    ab, ba = evaluate_case(pred, ref, spacing), evaluate_case(ref, pred, spacing)
    for key in SYMMETRIC:
        assert same(ab[key], ba[key]), key
    assert ab["precision"] == ba["recall"]


@SETTINGS
@given(masks=mask_pairs(), spacing=spacings, pad=st.integers(1, 3))
def test_translation_invariant(masks, spacing, pad: int) -> None:
    pred, ref = masks
    before = evaluate_case(pred, ref, spacing)
    after = evaluate_case(np.pad(pred, (pad, 0)), np.pad(ref, (pad, 0)), spacing)
    # padding moves the masks away from the array edge, which changes their border only where
    # they touched it; away from the edge every metric must be unchanged
    pred2, ref2 = np.pad(pred, 1), np.pad(ref, 1)
    inner = evaluate_case(pred2, ref2, spacing)
    shifted = evaluate_case(np.pad(pred2, (pad, 0)), np.pad(ref2, (pad, 0)), spacing)
    for key in inner:
        if key != "diagonal_mm":  # the image's own size, which padding grows
            assert same(float(inner[key]), float(shifted[key])), key
    for key in ("dice", "jaccard", "precision", "recall", "n_ref_lesions", "n_pred_lesions"):
        assert same(float(before[key]), float(after[key])), key


@SETTINGS
@given(masks=mask_pairs(), factor=st.floats(0.25, 4.0))
def test_distances_scale_with_isotropic_spacing(masks, factor: float) -> None:
    pred, ref = masks
    unit = evaluate_case(pred, ref, (1.0, 1.0, 1.0), min_lesion_mm3=0.0)
    scaled = evaluate_case(pred, ref, (factor,) * 3, min_lesion_mm3=0.0)
    for key in DISTANCES:
        assert same(scaled[key], factor * unit[key]), key


@SETTINGS
@given(masks=mask_pairs(), spacing=spacings)
def test_ranges(masks, spacing) -> None:
    pred, ref = masks
    m = evaluate_case(pred, ref, spacing)
    for key in ("dice", "jaccard", "precision", "recall", "nsd"):
        assert 0.0 <= m[key] <= 1.0, key
    if not math.isnan(m["hd"]):
        assert 0.0 <= m["hd95"] <= m["hd"] + 1e-12
        assert 0.0 <= m["asd"] <= m["hd"] + 1e-12 and 0.0 <= m["assd"] <= m["hd"] + 1e-12
        assert m["hd"] <= m["diagonal_mm"]  # the worst distance the statistics may assign
    else:
        assert m["ref_empty"] != m["pred_empty"]
    if not math.isnan(m["lesion_f1"]):
        assert 0.0 <= m["lesion_f1"] <= 1.0


@SETTINGS
@given(masks=mask_pairs(), spacing=spacings)
def test_identical_masks(masks, spacing) -> None:
    mask = masks[0]
    m = evaluate_case(mask, mask, spacing)
    assert m["dice"] == 1.0 and m["nsd"] == 1.0
    assert all(m[key] == 0.0 for key in DISTANCES)
    assert m["n_fp_lesions"] == 0
    if m["n_ref_lesions"]:
        assert m["lesion_f1"] == 1.0
