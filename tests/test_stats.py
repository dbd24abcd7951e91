"""Statistics against hand-computed values, brute force and scipy on fabricated results tables."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from lossbench.stats import (
    FALLBACK_DIAGONAL_MM,
    aggregate,
    bootstrap_ci,
    case_matrix,
    coefficient_of_variation,
    critical_difference_groups,
    false_positives,
    friedman,
    hodges_lehmann,
    holm,
    kendall_w,
    paired_tests,
    pairwise_tests,
    penalised_counts,
    rank_agreement,
    rank_first_probability,
    seed_agreement,
    seed_spread,
    signed_rank_cdf,
    summarise,
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
                rows.append(
                    {
                        "loss": loss,
                        "seed": seed,
                        "case_id": f"{case:03d}",
                        "dice": dice,
                        "hd95": np.nan if (loss == "ce" and case == 0) else 10 - 10 * dice,
                        "lesion_f1": dice,
                        "ref_empty": not lesion,
                        "pred_empty": loss == "ce" and case == 0,
                        "diagonal_mm": 50.0,
                        "n_fp_lesions": 0 if lesion else int(rng.integers(0, 3)),
                        "fp_volume_mm3": 0.0 if lesion else 12.5,
                    }
                )
    return pd.DataFrame(rows)


def table(values: dict[str, list[float]], metric: str = "dice", **extra: object) -> pd.DataFrame:
    """One seed, one row per (loss, case) from per-loss lists of case values."""
    rows = [
        {"loss": loss, "seed": 0, "case_id": f"{i:03d}", metric: v, "ref_empty": False, **extra}
        for loss, column in values.items()
        for i, v in enumerate(column)
    ]
    return pd.DataFrame(rows)


# --- the missing-distance policy -------------------------------------------------------------


def test_worst_policy_gives_the_diagonal_and_counts_it() -> None:
    results = fabricated()
    worst = aggregate(results, ["hd95"], n_resamples=200)
    exclude = aggregate(results, ["hd95"], n_resamples=200, nan_policy="exclude")
    ce = 10 - 10 * np.array([0.6 + 0.05 * c + 0.005 for c in range(6)])
    assert worst.loc["ce", ("hd95", "mean")] == pytest.approx((50.0 + ce[1:].sum()) / 6)
    assert worst.loc["ce", ("hd95", "penalised")] == 1 and worst.loc["ce", ("hd95", "n")] == 6
    assert exclude.loc["ce", ("hd95", "mean")] == pytest.approx(ce[1:].mean())
    assert exclude.loc["ce", ("hd95", "excluded")] == 1
    assert exclude.loc["ce", ("hd95", "penalised")] == 0
    # the rows keep the truth: the NaN is still in the table
    assert results["hd95"].isna().sum() == 2
    # only distances are penalised, and only where exactly one mask is empty
    assert penalised_counts(results, "dice").sum() == 0
    both_empty = results.assign(ref_empty=False, pred_empty=results["hd95"].isna())
    assert penalised_counts(both_empty, "hd95")["ce"] == 1
    odd = both_empty.assign(pred_empty=False)  # a NaN with both masks non-empty is not a miss
    assert penalised_counts(odd, "hd95")["ce"] == 0


def test_a_table_without_diagonal_uses_the_documented_constant() -> None:
    results = fabricated().drop(columns=["diagonal_mm"])
    assert case_matrix(results, "hd95").loc["000", "ce"] == FALLBACK_DIAGONAL_MM


def test_emptying_the_hardest_cases_does_not_win_hd95_under_worst() -> None:
    rng = np.random.default_rng(3)
    hard = np.arange(12) >= 9  # the three hardest cases
    honest = np.where(hard, 12.0, 4.0) + rng.uniform(0, 1, 12)
    lazy = np.where(hard, np.nan, 3.0) + rng.uniform(0, 1, 12)  # predicts nothing on them
    middling = np.where(hard, 14.0, 5.0) + rng.uniform(0, 1, 12)
    results = table(
        {"honest": list(honest), "lazy": list(lazy), "middling": list(middling)},
        "hd95",
        diagonal_mm=88.0,
    )
    results["pred_empty"] = results["hd95"].isna()
    assert summarise(results, ["hd95"], "exclude")["metrics"]["hd95"]["ranking"][0] == "lazy"
    worst = summarise(results, ["hd95"], "worst")["metrics"]["hd95"]
    assert worst["ranking"] == ["honest", "middling", "lazy"]
    assert worst["penalised"] == {"honest": 0, "lazy": 3, "middling": 0}


# --- hand-made verdicts ------------------------------------------------------------------------


def test_two_clearly_better_losses_form_the_not_worse_than_best_group() -> None:
    rng = np.random.default_rng(1)
    difficulty = rng.uniform(-0.1, 0.1, 24)  # shared by every loss: paired data
    values = {
        name: list(level + difficulty + rng.normal(0, 0.02, 24))
        for name, level in {"a": 0.80, "b": 0.80, "c": 0.60, "d": 0.58}.items()
    }
    summary = summarise(table(values), ["dice"], n_resamples=300)["metrics"]["dice"]
    assert sorted(summary["not_worse_than_best"]) == ["a", "b"]
    assert sorted(summary["significantly_worse"]) == ["c", "d"]
    assert summary["ranking"][2:] == ["c", "d"]


@pytest.mark.parametrize("seed", range(5))
def test_pure_noise_produces_no_winner(seed: int) -> None:
    rng = np.random.default_rng(seed)
    difficulty = rng.uniform(0.3, 0.9, 20)
    values = {f"loss{i}": list(difficulty + rng.normal(0, 0.05, 20)) for i in range(6)}
    summary = summarise(table(values), ["dice"], n_resamples=300)["metrics"]["dice"]
    assert len(summary["not_worse_than_best"]) == 6 and summary["significantly_worse"] == []


# --- estimators against hand values, brute force and scipy ------------------------------------


def test_holm_by_hand() -> None:
    # sorted 0.005, 0.01, 0.02, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.04, 0.04 (monotone)
    np.testing.assert_allclose(holm([0.04, 0.005, 0.02, 0.01]), [0.04, 0.02, 0.04, 0.03])
    assert holm([0.6, 0.9]).tolist() == [1.0, 1.0]


def test_signed_rank_distribution_against_enumeration() -> None:
    for n in (1, 4, 9):
        sums = [
            sum(r for r, s in zip(range(1, n + 1), signs, strict=True) if s)
            for signs in itertools.product([0, 1], repeat=n)
        ]
        counts = np.bincount(sums, minlength=n * (n + 1) // 2 + 1)
        np.testing.assert_allclose(signed_rank_cdf(n), np.cumsum(counts) / 2**n)


def test_hodges_lehmann_against_brute_force() -> None:
    d = np.random.default_rng(7).normal(0.05, 0.1, 12)
    walsh = sorted((d[i] + d[j]) / 2 for i in range(12) for j in range(i, 12))
    estimate, low, high = hodges_lehmann(d)
    assert estimate == pytest.approx(np.median(walsh))
    # the interval inverts the exact signed-rank test: a shift just outside it is rejected at
    # 0.05 by scipy's exact test, one just inside is not
    for bound, inward in ((low, 1), (high, -1)):
        assert bound in walsh
        inside = sps.wilcoxon(d - (bound + inward * 1e-9), method="exact").pvalue
        outside = sps.wilcoxon(d - (bound - inward * 1e-9), method="exact").pvalue
        assert outside <= 0.05 < inside
    # n = 8: the textbook critical value C = 4, so the 4th and 33rd of 36 Walsh averages
    e = np.array([0.1, 0.2, 0.3, 0.25, 0.15, 0.4, 0.05, 0.3])
    w8 = np.sort([(e[i] + e[j]) / 2 for i in range(8) for j in range(i, 8)])
    assert hodges_lehmann(e)[1:] == (pytest.approx(w8[3]), pytest.approx(w8[32]))
    assert np.isnan(hodges_lehmann([0.1, 0.2, 0.3])[1])  # 3 cases cannot give a 95% interval


def test_hodges_lehmann_normal_approximation_meets_the_exact_bound() -> None:
    d = np.random.default_rng(2).normal(0, 1, 301)  # the approximation takes over above 300
    walsh = np.sort([(d[i] + d[j]) / 2 for i in range(301) for j in range(i, 301)])
    k = int(np.searchsorted(signed_rank_cdf(301), 0.025, side="right"))
    _, low, high = hodges_lehmann(d)
    # within 3 of 45,451 sorted Walsh averages of the exact bounds W_(k), W_(M+1-k)
    assert walsh[k - 4] <= low <= walsh[k + 2] and walsh[-k - 3] <= high <= walsh[-k + 3]


def test_pairwise_tests_against_scipy_with_holm_over_all_pairs() -> None:
    results = fabricated()
    results.loc[(results["loss"] == "ce") & (results["case_id"] == "002"), "dice"] -= 0.08
    pairs = pairwise_tests(results, "dice")
    matrix = case_matrix(results, "dice")
    assert list(zip(pairs["a"], pairs["b"], strict=True)) == [
        ("ce", "dice"),
        ("ce", "hytver"),
        ("dice", "hytver"),
    ]
    for row in pairs.itertuples():
        diff = matrix[row.a] - matrix[row.b]
        assert row.p == pytest.approx(sps.wilcoxon(matrix[row.a], matrix[row.b]).pvalue)
        assert row.hl == pytest.approx(hodges_lehmann(diff)[0])
    np.testing.assert_allclose(pairs["p_holm"], holm(pairs["p"]))
    against = paired_tests(results, "dice", "dice")
    assert against.index.tolist() == ["ce", "hytver"]
    # oriented as loss minus baseline, the family still all three pairs
    assert against.loc["ce", "hl"] == pytest.approx(pairs.loc[0, "hl"])
    assert against.loc["hytver", "hl"] == pytest.approx(-pairs.loc[2, "hl"])
    assert against.loc["hytver", "low"] == pytest.approx(-pairs.loc[2, "high"])
    assert against.loc["hytver", "p_holm"] == pairs.loc[2, "p_holm"]
    with pytest.raises(ValueError, match="baseline loss 'focal' is not in the results"):
        paired_tests(results, "dice", "focal")


def test_friedman_against_scipy_and_ranks() -> None:
    results = fabricated()
    ranks, p = friedman(results, "dice")
    matrix = case_matrix(results, "dice")
    assert p == pytest.approx(sps.friedmanchisquare(*[matrix[c] for c in matrix]).pvalue)
    assert ranks.index.tolist() == ["hytver", "ce", "dice"] and ranks.tolist() == [1.0, 2.0, 3.0]
    low_is_better, _ = friedman(results, "hd95")  # lower HD95 ranks first
    assert low_is_better.index[0] == "hytver"


def test_critical_difference_groups_by_hand() -> None:
    names = ["a", "b", "c", "d"]
    significant = {("a", "c"), ("a", "d"), ("b", "d")}
    pairs = pd.DataFrame(
        [
            {"a": x, "b": y, "p_holm": 0.01 if (x, y) in significant else 0.5}
            for x, y in itertools.combinations(names, 2)
        ]
    )
    assert critical_difference_groups(names, pairs) == [["a", "b"], ["b", "c"], ["c", "d"]]
    assert critical_difference_groups(names, pairs.assign(p_holm=0.9)) == [names]
    assert critical_difference_groups(names, pairs.assign(p_holm=0.0)) == []


def test_kendall_w_by_hand_and_against_friedman() -> None:
    # 3 raters, 4 items: rank sums 3, 7, 9, 11 (mean 7.5): S = 20.25 + 0.25 + 2.25 + 12.25 = 35
    w = kendall_w([[1, 2, 3, 4], [1, 3, 2, 4], [1, 2, 4, 3]])
    assert w == pytest.approx(12 * 35 / (9 * (64 - 4)))
    assert kendall_w([[0.1, 0.5, 0.7], [10, 20, 30]]) == 1.0  # only the order within a row counts
    # with ties: W = Friedman's tie-corrected statistic / (m (n - 1))
    scores = np.random.default_rng(0).integers(0, 4, size=(5, 6)).astype(float)
    chi2 = sps.friedmanchisquare(*scores.T).statistic
    assert kendall_w(scores) == pytest.approx(chi2 / (5 * 5))
    assert np.isnan(kendall_w([[1, 2, 3]]))  # one rater: no agreement to measure


def test_seed_agreement_and_spread() -> None:
    results = fabricated(seeds=3)
    assert seed_agreement(results, "dice") == 1.0  # every seed ranks hytver > ce > dice
    noisy = results.copy()
    noisy.loc[(noisy["seed"] == 1) & (noisy["loss"] == "dice"), "dice"] += 0.5
    assert seed_agreement(noisy, "dice") < 1.0
    assert np.isnan(seed_agreement(fabricated(seeds=1), "dice"))
    spread = seed_spread(results, "dice")
    assert spread["seed_sd"] == pytest.approx(0.01)  # per-seed means 0.00, 0.01, 0.02 apart
    assert spread["between_sd"] == pytest.approx(0.1)  # means 0.1 apart


def test_rank_agreement_against_scipy() -> None:
    rng = np.random.default_rng(4)
    a = table({f"l{i}": list(rng.uniform(0, 1, 5)) for i in range(7)})
    b = a.assign(dice=a["dice"] + rng.normal(0, 0.2, len(a)))
    b = b[b["loss"] != "l6"]  # a loss only one run has
    ranks, taus = rank_agreement({"A": a, "B": b}, "dice")
    means_a, means_b = case_matrix(a, "dice").mean(), case_matrix(b, "dice").mean()
    expected = sps.kendalltau(means_a.drop("l6"), means_b)
    assert taus.loc[0, "n"] == 6
    assert taus.loc[0, "tau"] == pytest.approx(expected.statistic)
    assert taus.loc[0, "p"] == pytest.approx(expected.pvalue)
    assert np.isnan(ranks.loc["l6", "B"]) and ranks["A"].tolist() == sorted(ranks["A"])
    assert ranks.loc[means_a.idxmax(), "A"] == 1.0


# --- bootstrap ----------------------------------------------------------------------------------


def test_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    values = np.random.default_rng(1).normal(0.6, 0.1, size=30)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) != bootstrap_ci(values, seed=4)
    low, high = bootstrap_ci(values, seed=3)
    assert low < values.mean() < high
    # close to the normal-theory interval for 30 cases
    half = 1.96 * values.std(ddof=1) / np.sqrt(30)
    assert (high - low) / 2 == pytest.approx(half, rel=0.15)


def test_bootstrap_resamples_seeds_within_cases() -> None:
    same_cases = np.tile([[0.4, 0.6, 0.8]], (20, 1))  # every case alike, the seeds differ
    low, high = bootstrap_ci(same_cases, seed=0)
    assert low < 0.6 < high and high - low > 0.05
    assert bootstrap_ci(same_cases.mean(axis=1), seed=0) == (pytest.approx(0.6),) * 2
    assert bootstrap_ci(same_cases, seed=0) == bootstrap_ci(same_cases, seed=0)


def test_rank_first_probability_is_paired_and_seeded() -> None:
    rng = np.random.default_rng(5)
    difficulty = rng.uniform(0.2, 0.9, 15)
    values = {
        "a": list(difficulty + 0.05),
        "b": list(difficulty + rng.normal(0, 0.1, 15)),
        "c": list(difficulty - 0.3),
    }
    p = rank_first_probability(table(values), "dice", n_resamples=500, seed=1)
    assert p.sum() == pytest.approx(1.0) and p["c"] == 0.0 and p["a"] > 0.5
    assert p.equals(rank_first_probability(table(values), "dice", n_resamples=500, seed=1))


# --- other aggregates ----------------------------------------------------------------------------


def test_means_exclusions_and_seed_spread() -> None:
    table_ = aggregate(fabricated(), ["dice", "hd95"], n_resamples=200, nan_policy="exclude")
    # dice of "dice" over the 6 lesion cases, seeds averaged: 0.5 + 0.05 * mean(0..5) + 0.005
    assert table_.loc["dice", ("dice", "mean")] == pytest.approx(0.5 + 0.05 * 2.5 + 0.005)
    assert table_.loc["dice", ("dice", "n")] == 6 and table_.loc["dice", ("dice", "excluded")] == 0
    assert table_.loc["ce", ("hd95", "excluded")] == 1 and table_.loc["ce", ("hd95", "n")] == 5
    # per-seed means differ by exactly 0.01: sample SD of two values = 0.01 / sqrt(2)
    assert table_.loc["hytver", ("dice", "seed_sd")] == pytest.approx(0.01 / np.sqrt(2))


def test_coefficient_of_variation_by_hand() -> None:
    assert coefficient_of_variation([2.0, 4.0, 6.0, np.nan]) == pytest.approx(2.0 / 4.0)
    assert np.isnan(coefficient_of_variation([1.0]))


def test_false_positives_on_lesion_free_cases() -> None:
    frame = false_positives(fabricated())
    assert frame["cases"].tolist() == [2.0, 2.0, 2.0]
    assert (frame["fp_volume_mm3"] == 12.5).all()


def test_summary_keys() -> None:
    summary = summarise(fabricated(seeds=3), n_resamples=100)
    assert summary["nan_policy"] == "worst" and summary["seeds"]["n"] == 3
    assert list(summary["metrics"]) == ["dice", "hd95", "lesion_f1"]  # those the table has
    dice = summary["metrics"]["dice"]
    assert dice["higher_is_better"] and dice["ranking"] == ["hytver", "ce", "dice"]
    assert summary["seeds"]["kendall_w"]["dice"] == 1.0
    assert summary["metrics"]["hd95"]["penalised"] == {"ce": 1, "dice": 0, "hytver": 0}
    with pytest.raises(ValueError, match="nan_policy must be 'worst' or 'exclude', got 'drop'"):
        summarise(fabricated(), nan_policy="drop")
