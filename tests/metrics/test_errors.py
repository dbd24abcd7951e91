"""Bad input to the metrics gets an error naming the shapes, the value or the fix."""

from __future__ import annotations

import numpy as np
import pytest

from lossbench.metrics import dice, evaluate_case, hd, lesion_detection, nsd

A = np.zeros((4, 4, 4), bool)


def test_shapes_differ() -> None:
    with pytest.raises(ValueError, match=r"same shape, got \(4, 4, 4\) and \(4, 4, 5\)"):
        evaluate_case(A, np.zeros((4, 4, 5), bool), (1, 1, 1))


def test_not_3d() -> None:
    with pytest.raises(ValueError, match=r"must be 3D, got shape \(4, 4\)"):
        dice(A[0], A[0])


@pytest.mark.parametrize("spacing", [(1, 1), (1, 0, 1), (1, -1, 1), (1, float("nan"), 1), "abc"])
def test_bad_spacing(spacing) -> None:
    with pytest.raises(ValueError, match="`spacing` must be 3 positive numbers"):
        hd(A, A, spacing)


def test_non_binary_integer_mask() -> None:
    labels = A.astype(np.int64)
    labels[0, 0, 0] = 2
    with pytest.raises(
        ValueError, match="`ref` must be a binary mask, but its integer values include 2"
    ):
        evaluate_case(A, labels, (1, 1, 1))


def test_float_mask_tells_to_threshold() -> None:
    with pytest.raises(TypeError, match=r"`pred` is a float32 array.*threshold first"):
        evaluate_case(A.astype(np.float32), A, (1, 1, 1))


def test_integer_binary_masks_are_accepted() -> None:
    assert dice(A.astype(np.uint8), A.astype(np.int32)) == 1.0


def test_bad_rule_parameters() -> None:
    with pytest.raises(ValueError, match="`connectivity` must be 6 or 26, got 18"):
        lesion_detection(~A, ~A, (1, 1, 1), connectivity=18)
    with pytest.raises(ValueError, match=r"`gamma` must be a number in \(0, 1\], got 1.5"):
        lesion_detection(A, A, (1, 1, 1), gamma=1.5)
    with pytest.raises(ValueError, match="`tolerance_mm` must be a number >= 0"):
        nsd(~A, ~A, (1, 1, 1), tolerance_mm=-1)
