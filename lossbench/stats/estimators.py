"""Estimators and tests as pure array functions: bootstrap means and intervals, the coefficient
of variation, Holm's correction, the Hodges-Lehmann estimate, the Wilcoxon signed-rank test,
Friedman's mean ranks and Kendall's W. Every random draw takes an explicit seed or generator.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats as sps

__all__ = [
    "HodgesLehmann",
    "Interval",
    "bootstrap_ci",
    "bootstrap_means",
    "coefficient_of_variation",
    "friedman_ranks",
    "hodges_lehmann",
    "holm",
    "kendall_w",
    "signed_rank_cdf",
    "wilcoxon_p",
]


class Interval(NamedTuple):
    """A confidence interval ``[low, high]`` in the metric's unit."""

    low: float
    high: float


class HodgesLehmann(NamedTuple):
    """The Hodges-Lehmann estimate of a paired difference and its confidence interval."""

    estimate: float
    low: float
    high: float


def bootstrap_means(
    cube: np.ndarray, n_resamples: int, rng: np.random.Generator, chunk: int = 500
) -> np.ndarray:
    """Means over cases of bootstrap resamples of ``cube`` (cases, methods, seeds): cases drawn
    with replacement, then for each drawn case its seeds drawn with replacement; every method
    sees the same draws (paired). Returns (n_resamples, methods).

    Example:
        >>> cube = np.array([[[0.2], [0.9]], [[0.4], [0.7]]])  # 2 cases, 2 methods, 1 seed
        >>> bootstrap_means(cube, 4, np.random.default_rng(0)).shape
        (4, 2)
    """
    n, _, s = cube.shape
    cases = rng.integers(0, n, size=(n_resamples, n))
    seeds = rng.integers(0, s, size=(n_resamples, n, s)) if s > 1 else None
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as wanted
        for start in range(0, n_resamples, chunk):
            c = cases[start : start + chunk]
            if seeds is None:
                per_case = cube[c, :, 0]  # (chunk, n, losses)
            else:
                draws = cube[c[..., None], :, seeds[start : start + chunk]]  # (chunk, n, s, k)
                per_case = np.nanmean(draws, axis=2)
            out.append(np.nanmean(per_case, axis=1))
    return np.concatenate(out)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    n_resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap confidence interval of the mean over cases.

    ``values`` holds one value per case (1D) or one per case and seed (2D, cases x seeds). Cases
    are resampled with replacement; with several seeds, the seeds of each drawn case are
    resampled too, so the interval covers the seed-to-seed spread as well as the case-to-case
    one. NaN values are left out (a case with no finite value is dropped).

    Example:
        >>> low, high = bootstrap_ci([0.5, 0.6, 0.7, 0.8], seed=0)
        >>> 0.5 <= low < 0.65 < high <= 0.8
        True
        >>> low, high = bootstrap_ci([[0.5, 0.6], [0.7, 0.9], [0.6, 0.6]], seed=0)
        >>> 0.5 <= low < 0.65 < high <= 0.9
        True
    """
    x = np.asarray(values, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    x = x[~np.isnan(x).all(axis=1)]
    if x.size == 0:
        return Interval(float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = bootstrap_means(x[:, None, :], n_resamples, rng)[:, 0]
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(float(low), float(high))


def coefficient_of_variation(values: Sequence[float] | np.ndarray) -> float:
    """Sample standard deviation (ddof = 1) over the mean, NaN values left out.

    Example:
        >>> round(coefficient_of_variation([1.0, 2.0, 3.0]), 4)
        0.5
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size < 2 or x.mean() == 0:
        return float("nan")
    return float(x.std(ddof=1) / x.mean())


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of p-values (family-wise error), in the input order.

    Example:
        >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    m = p.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


@functools.lru_cache(maxsize=64)
def signed_rank_cdf(n: int) -> np.ndarray:
    """P(T+ <= t) for t = 0 .. n(n+1)/2, T+ the Wilcoxon signed-rank statistic of n untied,
    non-zero differences under the null (each rank's sign a fair coin).

    Example:
        >>> signed_rank_cdf(2).tolist()  # T+ of 2 ranks: 0, 1, 2 or 3, each with chance 1/4
        [0.25, 0.5, 0.75, 1.0]
    """
    pmf = np.zeros(n * (n + 1) // 2 + 1)
    pmf[0] = 1.0
    for rank in range(1, n + 1):
        top = rank * (rank + 1) // 2
        pmf[rank : top + 1] = 0.5 * (pmf[rank : top + 1] + pmf[: top + 1 - rank])
        pmf[:rank] *= 0.5
    return np.cumsum(pmf)


def hodges_lehmann(differences: Sequence[float] | np.ndarray, level: float = 0.95) -> HodgesLehmann:
    """Hodges-Lehmann estimate of a paired difference and its distribution-free CI.

    The estimate is the median of the n(n+1)/2 Walsh averages (d_i + d_j) / 2, i <= j. The CI
    is [W_(k), W_(M+1-k)] of the sorted Walsh averages W (M of them), with k the largest integer
    such that P(T+ <= k - 1) <= (1 - level) / 2 under the signed-rank null (exact for n <= 300,
    normal approximation beyond); with too few differences for that level the bounds are NaN.
    NaN differences are left out.

    Returns:
        ``(estimate, low, high)``, in the unit of the differences.

    Example:
        >>> est, low, high = hodges_lehmann([0.1, 0.2, 0.3, 0.25, 0.15, 0.4, 0.05, 0.3])
        >>> round(est, 3), round(low, 3), round(high, 3)
        (0.225, 0.1, 0.325)
    """
    d = np.asarray(differences, dtype=float)
    d = d[~np.isnan(d)]
    n = d.size
    if n == 0:
        return HodgesLehmann(float("nan"), float("nan"), float("nan"))
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2)
    m = walsh.size
    alpha = (1 - level) / 2
    if n <= 300:
        k = int(np.searchsorted(signed_rank_cdf(n), alpha, side="right"))
    else:
        sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
        k = math.floor(m / 2 + 0.5 - sps.norm.ppf(1 - alpha) * sd)  # continuity-corrected
    low, high = (walsh[k - 1], walsh[m - k]) if k >= 1 else (float("nan"), float("nan"))
    return HodgesLehmann(float(np.median(walsh)), float(low), float(high))


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; 1 when there is no non-zero difference.

    Example:
        >>> wilcoxon_p(np.zeros(4)), round(wilcoxon_p(np.array([1.0, 2, 3, 4, 5, 6])), 4)
        (1.0, 0.0312)
    """
    if differences.size == 0 or np.all(differences == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small samples and ties: scipy notes its fallback
        return float(sps.wilcoxon(differences).pvalue)


def kendall_w(scores: np.ndarray | Sequence[Sequence[float]]) -> float:
    """Kendall's coefficient of concordance of m raters over n items, with the correction for
    ties: 0 = no agreement, 1 = identical rankings. Each row of ``scores`` is one rater (here a
    seed); its values are ranked within the row (average ranks for ties), so any monotone score
    (a mean metric) can be given directly.

    W = 12 S / (m^2 (n^3 - n) - m sum(t^3 - t)), S the sum of squared deviations of the items'
    rank sums from their mean, t the sizes of the tie groups within each row.

    Example:
        >>> kendall_w([[1, 2, 3], [1, 2, 3]]), kendall_w([[1, 2, 3], [3, 2, 1]])
        (1.0, 0.0)
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        return float("nan")
    m, n = x.shape
    ranks = np.apply_along_axis(sps.rankdata, 1, x)
    sums = ranks.sum(axis=0)
    s = float(((sums - sums.mean()) ** 2).sum())
    ties = sum(float((c**3 - c).sum()) for c in (np.unique(r, return_counts=True)[1] for r in x))
    denominator = m**2 * (n**3 - n) - m * ties
    return s * 12 / denominator if denominator > 0 else float("nan")


def friedman_ranks(costs: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean rank of each column of ``costs`` (cases x methods, lower is better, complete rows
    only; 1 = best, ties averaged) and the Friedman test's p-value: NaN with fewer than 3
    methods, 1 when every case ties all methods.

    Raises:
        ValueError: fewer than 2 methods or 2 cases.

    Example:
        >>> ranks, p = friedman_ranks(np.array([[0.1, 0.5, 0.9]] * 5))
        >>> ranks.tolist(), round(p, 4)
        ([1.0, 2.0, 3.0], 0.0067)
    """
    n, k = costs.shape
    if k < 2 or n < 2:
        raise ValueError(f"Friedman's test needs 2+ methods and 2+ complete cases, got {k} and {n}")
    ranks = sps.rankdata(costs, axis=1).mean(axis=0)
    if k < 3 or np.ptp(costs, axis=1).max() == 0:
        return ranks, float("nan") if k < 3 else 1.0
    return ranks, float(sps.friedmanchisquare(*costs.T).pvalue)
