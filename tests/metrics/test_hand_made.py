"""Metrics on hand-made masks whose answers follow from the definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

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
    precision,
    recall,
)


def cube(shape, corner, size) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[tuple(slice(c, c + size) for c in corner)] = True
    return mask


def test_two_cubes_a_known_distance_apart() -> None:
    # 3-voxel cubes at x = 2..4 and x = 10..12, spacing 2 mm along x. A 3-cube has 26 border
    # voxels (all but its centre); the nearest border voxel of the other cube lies straight
    # along x: from x = 4 (9 voxels) 6 voxels = 12 mm, from x = 3 (8 voxels) 14 mm, from x = 2
    # (9 voxels) 16 mm, and symmetrically the other way
    a, b = cube((16, 8, 8), (2, 2, 2), 3), cube((16, 8, 8), (10, 2, 2), 3)
    spacing = (2.0, 1.0, 1.0)
    assert hd(a, b, spacing) == 16.0
    assert dice(a, b) == 0.0 and jaccard(a, b) == 0.0
    assert asd(a, b, spacing) == pytest.approx((9 * 12 + 8 * 14 + 9 * 16) / 26)
    assert assd(a, b, spacing) == pytest.approx(14.0)
    assert hd95(a, b, spacing) == 16.0  # the top 18 of 52 pooled distances are 16


def test_overlap_by_hand() -> None:
    a = cube((6, 6, 6), (0, 0, 0), 2)  # 8 voxels
    b = cube((6, 6, 6), (1, 0, 0), 2)  # 8 voxels, 4 shared
    assert dice(a, b) == 0.5
    assert jaccard(a, b) == pytest.approx(4 / 12)
    assert precision(a, b) == 0.5 and recall(a, b) == 0.5


def test_lesion_split_in_two() -> None:
    # one 5x5x2 reference lesion, predicted as two halves separated by one empty row
    ref = cube((8, 8, 8), (1, 1, 1), 5) & (np.arange(8)[None, None, :] < 3)
    pred = ref.copy()
    pred[:, 3, :] = False
    result = lesion_detection(pred, ref, (1, 1, 1))
    assert (result.n_ref, result.n_pred) == (1, 2)
    assert result.recall == 1.0 and result.precision == 1.0 and result.n_fp == 0


def test_prediction_merging_two_lesions() -> None:
    # two 3x3x3 reference lesions one voxel apart, predicted as one 3x7x3 block: the block
    # covers both lesions, but 3 / 63 of it is outside them, fine for beta = 0.7
    ref = cube((10, 10, 10), (1, 1, 1), 3) | cube((10, 10, 10), (1, 5, 1), 3)
    pred = np.zeros_like(ref)
    pred[1:4, 1:8, 1:4] = True
    result = lesion_detection(pred, ref, (1, 1, 1))
    assert (result.n_ref, result.n_pred, result.ref_detected, result.pred_detected) == (2, 1, 2, 1)
    # the same block widened so that most of it lies outside the lesions: beta fails
    pred[0:10, 0:9, 0:10] = True
    wide = lesion_detection(pred, ref, (1, 1, 1))
    assert wide.ref_detected == 0 and wide.n_fp == 1 and wide.fp_volume_mm3 == 900


def test_lesion_below_the_size_limit_is_ignored() -> None:
    # spacing 1 x 1 x 1: limit 3 mm^3 keeps components of more than 3 voxels
    ref = cube((8, 8, 8), (1, 1, 1), 2)  # 8 voxels: kept
    tiny = np.zeros_like(ref)
    tiny[6, 6, 5:8] = True  # 3 voxels: discarded, counts as background
    result = lesion_detection(ref | tiny, ref, (1, 1, 1))
    assert (result.n_ref, result.n_pred, result.n_fp) == (1, 1, 0)
    assert lesion_detection(tiny, ref, (1, 1, 1)).n_pred == 0
    # at 0.5 mm isotropic (0.125 mm^3 voxels) the limit is 24 voxels: the 8-voxel cube goes
    assert lesion_detection(ref, ref, (0.5, 0.5, 0.5)).n_ref == 0


def test_coverage_must_exceed_alpha() -> None:
    ref = cube((12, 12, 12), (0, 0, 0), 10)[:, :, :1].repeat(1, axis=2)  # 10x10x1 = 100 voxels
    ref = np.pad(ref, ((0, 0), (0, 0), (0, 11)))
    pred = np.zeros_like(ref)
    pred[0, :10, 0] = True  # covers exactly 10 % of it: not more than alpha
    assert lesion_detection(pred, ref, (1, 1, 1)).ref_detected == 0
    pred[1, 0, 0] = True  # 11 %
    assert lesion_detection(pred, ref, (1, 1, 1)).ref_detected == 1


def test_empty_mask_policy() -> None:
    empty, lesion = np.zeros((6, 6, 6), bool), cube((6, 6, 6), (1, 1, 1), 3)
    both = evaluate_case(empty, empty, (1, 1, 1))
    assert [both[k] for k in ("dice", "jaccard", "precision", "recall", "nsd")] == [1.0] * 5
    assert [both[k] for k in ("hd", "hd95", "asd", "assd")] == [0.0] * 4
    assert both["ref_empty"] and both["pred_empty"]
    assert all(math.isnan(both[k]) for k in ("lesion_precision", "lesion_recall", "lesion_f1"))

    missed = evaluate_case(empty, lesion, (1, 1, 1))
    assert missed["dice"] == 0.0 and missed["pred_empty"] and not missed["ref_empty"]
    assert all(math.isnan(missed[k]) for k in ("hd", "hd95", "asd", "assd"))
    assert [missed[k] for k in ("lesion_precision", "lesion_recall", "lesion_f1")] == [0, 0, 0]

    false_alarm = evaluate_case(lesion, empty, (1, 1, 1))
    assert false_alarm["dice"] == 0.0 and false_alarm["ref_empty"]
    assert all(math.isnan(false_alarm[k]) for k in ("hd", "lesion_f1", "lesion_recall"))
    assert false_alarm["n_fp_lesions"] == 1 and false_alarm["fp_volume_mm3"] == 27.0


def test_evaluate_case_keys_and_volumes() -> None:
    ref = cube((10, 10, 10), (2, 2, 2), 3)
    pred = cube((10, 10, 10), (3, 2, 2), 3)
    result = evaluate_case(pred, ref, (0.5, 1.0, 2.0))
    assert tuple(result) == METRIC_KEYS
    assert result["ref_volume_mm3"] == result["pred_volume_mm3"] == 27.0
    assert result["dice"] == pytest.approx(2 / 3)
    assert result["hd"] == pytest.approx(0.5)
    # the image extent is 5 x 10 x 20 mm: its diagonal bounds every distance of the case
    assert result["diagonal_mm"] == pytest.approx(np.sqrt(5**2 + 10**2 + 20**2))
