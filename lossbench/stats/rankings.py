"""Comparisons of methods on one metric's :class:`~lossbench.stats.scores.Scores`: per-method
aggregates, every pair's paired test, Friedman's mean ranks, the groups of a critical-difference
diagram, how often each method ranks first, how far seeds agree, and how far several runs'
rankings agree.

With several seeds, a case's value is first averaged over seeds, except where a statistic is
about seeds (the bootstrap, the seed spread and agreement).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps

from lossbench.stats.estimators import (
    bootstrap_ci,
    bootstrap_means,
    friedman_ranks,
    hodges_lehmann,
    holm,
    kendall_w,
    wilcoxon_p,
)
from lossbench.stats.scores import Scores

__all__ = [
    "FriedmanResult",
    "RankAgreement",
    "against",
    "critical_difference_groups",
    "first_place",
    "friedman_of",
    "pairwise",
    "planned_pairs",
    "ranking",
    "run_agreement",
    "seed_concordance",
    "seed_noise",
    "statistics",
]


class FriedmanResult(NamedTuple):
    """Mean rank of each method (1 = best, best first) and the Friedman test's p-value."""

    ranks: pd.Series
    p: float


class RankAgreement(NamedTuple):
    """Each method's rank per run (methods x runs) and Kendall's tau per pair of runs
    (columns ``a, b, n, tau, p``)."""

    ranks: pd.DataFrame
    taus: pd.DataFrame


def statistics(scores: Scores, n_resamples: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """Per method: mean over the cases (seeds averaged per case), 95% bootstrap interval (cases
    and seeds resampled), cases used (``n``), left out (``excluded``) and given the worst value
    (``penalised``), and the standard deviation of the per-seed means (``seed_sd``; NaN with one
    seed).

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 4, "seed": [0, 0, 1, 1],
        ...     "case_id": ["1", "2"] * 2, "dice": [0.2, 0.4, 0.4, 0.6], "ref_empty": False})
        >>> row = statistics(Scores.from_results(t, "dice"), n_resamples=100).loc["a"]
        >>> round(float(row["mean"]), 3), int(row["n"]), round(float(row["seed_sd"]), 4)
        (0.4, 2, 0.1414)
    """
    per_case, per_seed = scores.per_case(), scores.per_seed()
    rows = {}
    for j, method in enumerate(scores.methods):
        low, high = bootstrap_ci(scores.values[:, j, :], n_resamples, seed=seed)
        finite = np.isfinite(per_case[:, j])
        spread = pd.Series(per_seed[j]).std(ddof=1) if per_seed.shape[1] > 1 else float("nan")
        rows[method] = {
            "mean": float(np.nanmean(per_case[:, j])) if finite.any() else float("nan"),
            "low": low,
            "high": high,
            "n": float(finite.sum()),
            "excluded": float((~finite).sum()),
            "penalised": float(scores.penalised_cases()[j]),
            "seed_sd": float(spread),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def pairwise(scores: Scores, level: float = 0.95) -> pd.DataFrame:
    """Every pair of methods on the per-case values (seeds averaged; cases with a NaN on either
    side left out): for each unordered pair ``(a, b)``, ``a < b``, the number of cases, the
    Hodges-Lehmann estimate of ``a - b`` with its CI at ``level``, the two-sided Wilcoxon
    signed-rank p-value and its Holm correction over all k(k-1)/2 pairs.

    Returns:
        DataFrame with columns ``a, b, n, hl, low, high, p, p_holm``.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 6 + ["b"] * 6, "seed": 0,
        ...     "case_id": [str(i) for i in range(6)] * 2, "ref_empty": False,
        ...     "dice": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.2, 0.4, 0.5, 0.7, 0.9, 0.65]})
        >>> row = pairwise(Scores.from_results(t, "dice")).iloc[0]
        >>> row["a"], row["b"], round(float(row["hl"]), 3), round(float(row["p"]), 4)
        ('a', 'b', -0.2, 0.0312)
    """
    names = scores.methods
    return planned_pairs(scores, list(itertools.combinations(names, 2)), level)


def planned_pairs(
    scores: Scores, pairs: Sequence[tuple[str, str]], level: float = 0.95
) -> pd.DataFrame:
    """The paired comparison of :func:`pairwise` for the given ``(a, b)`` pairs alone, with the
    Holm correction over those pairs: the family of a planned set of comparisons.

    Returns:
        DataFrame with columns ``a, b, n, hl, low, high, p, p_holm``, one row per pair.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 6 + ["b"] * 6, "seed": 0,
        ...     "case_id": [str(i) for i in range(6)] * 2, "ref_empty": False,
        ...     "dice": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.2, 0.4, 0.5, 0.7, 0.9, 0.65]})
        >>> row = planned_pairs(Scores.from_results(t, "dice"), [("b", "a")]).iloc[0]
        >>> round(float(row["hl"]), 3), round(float(row["p_holm"]), 4)
        (0.2, 0.0312)
    """
    values, column = scores.per_case(), {name: j for j, name in enumerate(scores.methods)}
    rows = []
    for a, b in pairs:
        diff = values[:, column[a]] - values[:, column[b]]
        diff = diff[~np.isnan(diff)]
        hl, low, high = hodges_lehmann(diff, level)
        rows.append((a, b, diff.size, hl, low, high, wilcoxon_p(diff)))
    frame = pd.DataFrame(rows, columns=["a", "b", "n", "hl", "low", "high", "p"])
    frame["p_holm"] = holm(frame["p"].to_numpy()) if len(frame) else []
    return frame


def against(pairs: pd.DataFrame, reference: str) -> pd.DataFrame:
    """The rows of :func:`pairwise` that involve ``reference``, oriented as ``method -
    reference`` and indexed by the other method (sorted).

    Example:
        >>> pairs = pd.DataFrame({"a": ["x"], "b": ["y"], "n": [3], "hl": [0.2], "low": [0.1],
        ...     "high": [0.3], "p": [0.04], "p_holm": [0.04]})
        >>> against(pairs, "y").loc["x", ["hl", "low", "high"]].tolist()
        [0.2, 0.1, 0.3]
    """
    mine = pairs[(pairs["a"] == reference) | (pairs["b"] == reference)]
    flip = (mine["b"] != reference).to_numpy()
    out = pd.DataFrame(
        {
            "n": mine["n"].to_numpy(),
            "hl": np.where(flip, -mine["hl"], mine["hl"]),
            "low": np.where(flip, -mine["high"], mine["low"]),
            "high": np.where(flip, -mine["low"], mine["high"]),
            "p": mine["p"].to_numpy(),
            "p_holm": mine["p_holm"].to_numpy(),
        },
        index=np.where(flip, mine["b"], mine["a"]),
    )
    return out.sort_index()


def friedman_of(scores: Scores) -> FriedmanResult:
    """Friedman's test over all methods (cases as blocks, complete cases only) and each
    method's mean rank (1 = best, following the metric's direction), best first.

    Raises:
        ValueError: fewer than 2 methods or 2 complete cases.
    """
    matrix = scores.per_case()
    complete = ~np.isnan(matrix).any(axis=1)
    ranks, p = friedman_ranks(scores.sign * matrix[complete])
    order = np.argsort(ranks, kind="stable")
    return FriedmanResult(pd.Series(ranks[order], index=np.array(scores.methods)[order]), p)


def critical_difference_groups(
    order: Sequence[str], pairs: pd.DataFrame, alpha: float = 0.05
) -> list[list[str]]:
    """The bars of a critical-difference diagram: maximal runs of consecutive methods (in
    ``order``, best first) whose every pair is not significantly different (Holm-corrected
    p-value of :func:`pairwise` at least ``alpha``). Runs of one method are left out.

    Example:
        >>> pairs = pd.DataFrame({"a": ["x", "x", "y"], "b": ["y", "z", "z"],
        ...                       "p_holm": [0.4, 0.01, 0.3]})
        >>> critical_difference_groups(["x", "y", "z"], pairs)
        [['x', 'y'], ['y', 'z']]
    """
    same = {
        frozenset((a, b))
        for a, b, p in zip(pairs["a"], pairs["b"], pairs["p_holm"], strict=True)
        if p >= alpha
    }
    names = list(order)
    spans: list[tuple[int, int]] = []
    for start in range(len(names)):
        end = start
        while end + 1 < len(names) and all(
            frozenset((names[i], names[end + 1])) in same for i in range(start, end + 1)
        ):
            end += 1
        if end > start and not any(s <= start and end <= e for s, e in spans):
            spans.append((start, end))
    return [names[s : e + 1] for s, e in spans]


def first_place(scores: Scores, n_resamples: int = 2_000, seed: int = 0) -> pd.Series:
    """How often each method has the best mean over bootstrap resamples of the cases (and of
    the seeds within each case), every method on the same draws; a tie for first shares the
    count. Returns probabilities per method (summing to 1), in the scores' order."""
    means = bootstrap_means(scores.values, n_resamples, np.random.default_rng(seed))
    cost = np.where(np.isnan(means), -np.inf, -scores.sign * means)
    first = cost == cost.max(axis=1, keepdims=True)
    share = (first / first.sum(axis=1, keepdims=True)).mean(axis=0)
    return pd.Series(share, index=list(scores.methods))


def ranking(scores: Scores) -> list[str]:
    """Method names best first by mean; NaN means last, ties in name order.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "b"], "seed": 0, "case_id": "1",
        ...     "ref_empty": False, "hd95": [3.0, 1.0]})
        >>> ranking(Scores.from_results(t, "hd95"))
        ['b', 'a']
    """
    key = pd.Series(scores.sign * scores.means(), index=list(scores.methods))
    return key.sort_values(kind="stable", na_position="last").index.tolist()


def seed_concordance(scores: Scores) -> float:
    """Kendall's W of the per-seed rankings: the methods ranked by their mean within each seed
    (methods missing a seed left out), then the agreement of those rankings; NaN with one seed.
    """
    per_seed = scores.per_seed()
    return kendall_w(per_seed[~np.isnan(per_seed).any(axis=1)].T)


def seed_noise(scores: Scores) -> dict[str, float]:
    """How large seed noise is against the gaps between methods: the median over methods of
    the standard deviation of a method's mean across seeds (NaN with one seed), and the
    standard deviation of the methods' means (seeds averaged)."""
    per_seed = scores.per_seed()
    seed_sd = float("nan")
    if per_seed.shape[1] > 1:
        spreads = pd.DataFrame(per_seed).std(axis=1, ddof=1)
        seed_sd = float(spreads.median())
    means = pd.Series(scores.means())
    between = float(means.std(ddof=1)) if means.notna().sum() > 1 else float("nan")
    return {"seed_sd": seed_sd, "between_sd": between}


def run_agreement(runs: Mapping[str, Scores]) -> RankAgreement:
    """How well the rankings of several runs agree on one metric: each run's methods ranked by
    their mean (1 = best), and for every pair of runs Kendall's tau-b between the means of the
    methods both hold, with its two-sided p-value (scipy's).

    Args:
        runs: name -> the run's scores of the metric, in display order.

    Returns:
        ``(ranks, taus)``: methods x runs ranks (NaN where a run lacks the method), sorted by
        the first run's rank; one row per pair of runs with columns ``a, b, n, tau, p``.
    """
    means = {n: pd.Series(s.means(), index=list(s.methods)) for n, s in runs.items()}
    signs = {n: s.sign for n, s in runs.items()}
    ranks = pd.DataFrame({n: (signs[n] * m).rank(method="average") for n, m in means.items()})
    ranks = ranks.sort_values(list(ranks.columns), kind="stable")
    rows = []
    names = list(runs)
    for x, a in enumerate(names):
        for b in names[x + 1 :]:
            both = pd.concat([means[a], means[b]], axis=1, join="inner").dropna()
            tau, p = float("nan"), float("nan")
            if len(both) >= 2:
                result = sps.kendalltau(both.iloc[:, 0], both.iloc[:, 1])
                tau, p = float(result.statistic), float(result.pvalue)
            rows.append({"a": a, "b": b, "n": len(both), "tau": tau, "p": p})
    return RankAgreement(ranks, pd.DataFrame(rows, columns=["a", "b", "n", "tau", "p"]))
