"""The calibration metrics: hand cases, sampling noise of a calibrated map, and scikit-learn's
Brier score and calibration curve as oracles."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from lossbench.metrics.calibration import calibration

SHAPE = (40, 50, 60)  # 120,000 voxels


def _calibrated(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities uniform on [0, 1] and labels drawn with exactly those probabilities."""
    rng = np.random.default_rng(seed)
    prob = rng.random(SHAPE)
    return prob, rng.random(SHAPE) < prob


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_calibrated_map_has_an_ece_within_sampling_noise_of_zero(seed: int) -> None:
    prob, ref = _calibrated(seed)
    result = calibration(prob, ref)
    # each of the 15 bins holds ~8,000 voxels: the lesion share's SD there is at most
    # sqrt(0.25 / 8000) = 0.0056, so |error| averages ~0.004; 0.012 is ~2 SD above
    assert result.ece < 0.012
    # a map that is not calibrated: p^2 against labels drawn with p, ECE near E|p - p^2| = 1/6
    assert calibration(prob**2, ref).ece == pytest.approx(1 / 6, abs=0.01)


def test_a_constant_half_map_has_its_computed_ece_and_brier() -> None:
    ref = np.zeros(SHAPE, bool)
    ref[:4] = True  # a tenth of the voxels
    result = calibration(np.full(SHAPE, 0.5), ref)
    assert result.ece == pytest.approx(0.5 - 0.1, abs=1e-12)
    assert result.brier == 0.25
    assert result.voxels.tolist() == [0] * 7 + [ref.size] + [0] * 7  # 0.5 lies in [7/15, 8/15)
    assert result.lesion_sum[7] == ref.sum()


def test_brier_and_reliability_agree_with_scikit_learn() -> None:
    prob, ref = _calibrated(3)
    prob = prob**1.5  # miscalibrated, so every bin's gap counts
    brain = np.zeros(SHAPE, bool)
    brain[5:35, 5:45, 5:55] = True
    result = calibration(prob, ref, brain)
    p, y = prob[brain], ref[brain]
    assert result.brier == pytest.approx(brier_score_loss(y, p), rel=1e-12)
    share, mean_p = calibration_curve(y, p, n_bins=15, strategy="uniform")
    counts = np.histogram(p, bins=np.linspace(0, 1, 16))[0]
    filled = result.voxels > 0
    np.testing.assert_allclose(result.lesion_sum[filled] / result.voxels[filled], share)
    np.testing.assert_allclose(result.prob_sum[filled] / result.voxels[filled], mean_p)
    np.testing.assert_array_equal(result.voxels, counts)
    ece = np.sum(counts[filled] / p.size * np.abs(share - mean_p))
    assert result.ece == pytest.approx(ece, rel=1e-9)


def test_the_bins_pool_over_cases_by_adding() -> None:
    prob, ref = _calibrated(4)
    half = np.zeros(SHAPE, bool)
    half[:20] = True
    a, b, both = calibration(prob, ref, half), calibration(prob, ref, ~half), calibration(prob, ref)
    np.testing.assert_array_equal(a.voxels + b.voxels, both.voxels)
    np.testing.assert_allclose(a.prob_sum + b.prob_sum, both.prob_sum)
    np.testing.assert_array_equal(a.lesion_sum + b.lesion_sum, both.lesion_sum)


def test_edges_and_an_empty_mask() -> None:
    prob = np.array([0.0, 1 / 15, 1.0]).reshape(1, 1, 3)
    result = calibration(prob, np.array([False, False, True]).reshape(1, 1, 3))
    assert result.voxels.tolist() == [1, 1] + [0] * 12 + [1]  # p = 1 lies in the last bin
    empty = calibration(prob, prob > 0, np.zeros(prob.shape, bool))
    assert np.isnan(empty.ece) and np.isnan(empty.brier) and empty.voxels.sum() == 0


@pytest.mark.parametrize(
    ("prob", "match"),
    [
        (np.full((2, 2, 2), 1.5), "in \\[0, 1\\]"),
        (np.full((2, 2, 2), np.nan), "in \\[0, 1\\]"),
        (np.zeros((2, 2, 3)), "one shape"),
    ],
)
def test_bad_input_is_refused_with_the_value(prob: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        calibration(prob, np.zeros((2, 2, 2), bool))
    with pytest.raises(ValueError, match="n_bins"):
        calibration(np.zeros((2, 2, 2)), np.zeros((2, 2, 2), bool), n_bins=0)
