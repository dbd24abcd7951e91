"""Statistics against hand-computed values and scipy on a fabricated results table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from lossbench.stats import (
    aggregate,
    bootstrap_ci,
    case_matrix,
    coefficient_of_variation,
    false_positives,
    friedman,
    holm,
    paired_tests,
)


def fabricated(seeds: int = 2) -> pd.DataFrame:
    """3 losses x seeds x 8 cases (6 with lesions, 2 without) with known values."""
    rng = np.random.default_rng(0)
    rows = []
    base = {"dice": 0.5, "ce": 0.6, "hytver": 0.7}
    for loss, level in base.items():
        for seed in range(seeds):
            for case in range(8):
                lesion = case < 6
                dice = level + 0.05 * case + 0.01 * seed if lesion else 1.0
                rows.append({
                    "loss": loss, "seed": seed, "case_id": f"{case:03d}", "dice": dice,
                    "hd95": np.nan if (loss == "ce" and case == 0) else 10 - 10 * dice,
                    "lesion_f1": dice, "ref_empty": not lesion,
                    "n_fp_lesions": 0 if lesion else int(rng.integers(0, 3)),
                    "fp_volume_mm3": 0.0 if lesion else 12.5,
                })  # fmt: skip
    return pd.DataFrame(rows)


def test_means_exclusions_and_seed_spread() -> None:
    table = aggregate(fabricated(), ["dice", "hd95"], n_resamples=200)
    # dice of "dice" over the 6 lesion cases, seeds averaged: 0.5 + 0.05 * mean(0..5) + 0.005
    assert table.loc["dice", ("dice", "mean")] == pytest.approx(0.5 + 0.05 * 2.5 + 0.005)
    assert table.loc["dice", ("dice", "n")] == 6 and table.loc["dice", ("dice", "excluded")] == 0
    assert table.loc["ce", ("hd95", "excluded")] == 1 and table.loc["ce", ("hd95", "n")] == 5
    # per-seed means differ by exactly 0.01: sample SD of two values = 0.01 / sqrt(2)
    assert table.loc["hytver", ("dice", "seed_sd")] == pytest.approx(0.01 / np.sqrt(2))


def test_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    values = np.random.default_rng(1).normal(0.6, 0.1, size=30)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) != bootstrap_ci(values, seed=4)
    low, high = bootstrap_ci(values, seed=3)
    assert low < values.mean() < high
    # close to the normal-theory interval for 30 cases
    half = 1.96 * values.std(ddof=1) / np.sqrt(30)
    assert (high - low) / 2 == pytest.approx(half, rel=0.15)


def test_coefficient_of_variation_by_hand() -> None:
    assert coefficient_of_variation([2.0, 4.0, 6.0, np.nan]) == pytest.approx(2.0 / 4.0)
    assert np.isnan(coefficient_of_variation([1.0]))


def test_holm_by_hand() -> None:
    # sorted 0.005, 0.01, 0.02, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.04, 0.04 (monotone)
    np.testing.assert_allclose(holm([0.04, 0.005, 0.02, 0.01]), [0.04, 0.02, 0.04, 0.03])
    assert holm([0.6, 0.9]).tolist() == [1.0, 1.0]


def test_paired_tests_against_scipy() -> None:
    results = fabricated()
    # perturb one loss so that differences are not constant
    results.loc[(results["loss"] == "ce") & (results["case_id"] == "002"), "dice"] -= 0.08
    frame = paired_tests(results, "dice", "dice")
    matrix = case_matrix(results, "dice")
    for loss in ("ce", "hytver"):
        expected = sps.wilcoxon(matrix[loss], matrix["dice"]).pvalue
        assert frame.loc[loss, "p"] == pytest.approx(expected)
        assert frame.loc[loss, "median_diff"] == pytest.approx(
            np.median(matrix[loss] - matrix["dice"])
        )
    np.testing.assert_allclose(frame["p_holm"], holm(frame["p"]))
    with pytest.raises(ValueError, match="baseline loss 'focal' is not in the results"):
        paired_tests(results, "dice", "focal")


def test_friedman_against_scipy_and_ranks() -> None:
    results = fabricated()
    ranks, p, cd = friedman(results, "dice")
    matrix = case_matrix(results, "dice")
    assert p == pytest.approx(sps.friedmanchisquare(*[matrix[c] for c in matrix]).pvalue)
    assert ranks.index.tolist() == ["hytver", "ce", "dice"] and ranks.tolist() == [1.0, 2.0, 3.0]
    # Nemenyi: q_0.05(k=3) / sqrt(2) = 2.343, times sqrt(3 * 4 / (6 * 6))
    assert cd == pytest.approx(2.343 * np.sqrt(12 / 36), rel=1e-3)
    low_is_better, _, _ = friedman(results, "hd95")  # lower HD95 ranks first
    assert low_is_better.index[0] == "hytver"


def test_false_positives_on_lesion_free_cases() -> None:
    frame = false_positives(fabricated())
    assert frame["cases"].tolist() == [2.0, 2.0, 2.0]
    assert (frame["fp_volume_mm3"] == 12.5).all()
