"""Statistics of a results table: aggregates, coefficients of variation, seed-aware bootstrap
confidence intervals, paired tests between every pair of losses (Wilcoxon signed-rank, Holm,
Hodges-Lehmann), Friedman ranks, the groups of a critical-difference diagram, rank stability,
agreement of seeds and of runs (Kendall's W and tau), and the summary behind the verdict.

Aggregation protocol (MSSEG-2's): segmentation and detection metrics are averaged over the test
cases that have reference lesions; lesion-free cases are summarised by their false-positive
lesions. With several seeds a case's value is first averaged over seeds.

Missing distances: a distance (hd, hd95, asd, assd) is NaN in the results table when exactly one
mask is empty. The per-case rows keep that NaN; the statistics apply a policy:

- ``"worst"`` (default): the value becomes the case's ``diagonal_mm`` (the diagonal of its image
  extent, which no distance inside the image can exceed), or :data:`FALLBACK_DIAGONAL_MM` when
  the table has no such column. A loss that empties its hard cases is not rewarded for it.
- ``"exclude"``: the value is left out of the aggregate and counted.

Pure numpy / scipy / pandas; every random draw takes an explicit seed.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps

from lossbench.metrics.facts import facts

__all__ = [
    "FALLBACK_DIAGONAL_MM",
    "NAN_POLICIES",
    "SUMMARY_METRICS",
    "FriedmanResult",
    "HodgesLehmann",
    "Interval",
    "RankAgreement",
    "aggregate",
    "bootstrap_ci",
    "case_matrix",
    "check_nan_policy",
    "coefficient_of_variation",
    "critical_difference_groups",
    "false_positives",
    "friedman",
    "hodges_lehmann",
    "holm",
    "kendall_w",
    "overview",
    "paired_tests",
    "pairwise_tests",
    "penalised_counts",
    "rank_agreement",
    "rank_first_probability",
    "seed_agreement",
    "seed_spread",
    "summarise",
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


class FriedmanResult(NamedTuple):
    """Mean rank of each loss (1 = best, best first) and the Friedman test's p-value."""

    ranks: pd.Series
    p: float


class RankAgreement(NamedTuple):
    """Each loss's rank per run (losses x runs) and Kendall's tau per pair of runs
    (columns ``a, b, n, tau, p``)."""

    ranks: pd.DataFrame
    taus: pd.DataFrame


NanPolicy = Literal["worst", "exclude"]

NAN_POLICIES = ("worst", "exclude")
"""The aggregation policies for a distance that is NaN because exactly one mask is empty."""

FALLBACK_DIAGONAL_MM = 400.0
"""Worst distance (mm) for a results table without a ``diagonal_mm`` column: about the diagonal
of a 256 x 256 x 176 mm head field of view, longer than any distance inside a brain scan."""

SUMMARY_METRICS = (
    "dice",
    "jaccard",
    "hd95",
    "asd",
    "precision",
    "recall",
    "lesion_f1",
    "nsd",
    "hd",
    "assd",
    "lesion_precision",
    "lesion_recall",
)
"""The metrics of :func:`summarise` (and ``summary.json``)."""


def check_nan_policy(nan_policy: str) -> NanPolicy:
    """Return ``nan_policy`` if it is ``"worst"`` or ``"exclude"``, else raise ``ValueError``.

    Example:
        >>> check_nan_policy("exclude")
        'exclude'
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be 'worst' or 'exclude', got {nan_policy!r}")
    return nan_policy  # type: ignore[return-value]


def _long(results: pd.DataFrame, metric: str, nan_policy: str) -> pd.DataFrame:
    """Rows of the cases with lesions: loss, seed, case_id, value (policy applied), penalised."""
    check_nan_policy(nan_policy)
    if metric not in results.columns:
        raise ValueError(f"the results table has no column {metric!r}")
    table = results[~results["ref_empty"].astype(bool)]
    table = table.sort_values(["loss", "seed", "case_id"], kind="stable")
    value = table[metric].astype(float)
    penalised = pd.Series(False, index=table.index)
    if facts(metric).is_distance and nan_policy == "worst":
        penalised = value.isna()
        if "pred_empty" in table.columns:  # only a NaN that comes from one empty mask
            penalised &= table["pred_empty"].astype(bool) != table["ref_empty"].astype(bool)
        diagonal = (
            table["diagonal_mm"].astype(float).fillna(FALLBACK_DIAGONAL_MM)
            if "diagonal_mm" in table.columns
            else pd.Series(FALLBACK_DIAGONAL_MM, index=table.index)
        )
        value = value.where(~penalised, diagonal)
    return pd.DataFrame(
        {
            "loss": table["loss"].astype(str),
            "seed": table["seed"],
            "case_id": table["case_id"].astype(str),
            "value": value,
            "penalised": penalised,
        }
    )


def case_matrix(results: pd.DataFrame, metric: str, nan_policy: str = "worst") -> pd.DataFrame:
    """Cases x losses matrix of ``metric`` over the cases with lesions, averaged over seeds,
    with the missing-distance policy applied (rows and columns sorted).

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
        ...     "case_id": ["c"] * 4, "dice": [0.2, 0.4, 0.6, 0.8], "ref_empty": False})
        >>> case_matrix(t, "dice").round(2).to_dict()
        {'a': {'c': 0.3}, 'b': {'c': 0.7}}
    """
    rows = _long(results, metric, nan_policy)
    matrix = rows.groupby(["case_id", "loss"])["value"].mean().unstack("loss")
    return matrix.sort_index().sort_index(axis=1)


def _cube(results: pd.DataFrame, metric: str, nan_policy: str) -> tuple[np.ndarray, list[str]]:
    """Array (cases, losses, seeds) of ``metric`` and the sorted loss names."""
    rows = _long(results, metric, nan_policy)
    frame = rows.groupby(["case_id", "loss", "seed"])["value"].mean().unstack(["loss", "seed"])
    losses = sorted(rows["loss"].unique())
    seeds = sorted(rows["seed"].unique())
    frame = frame.reindex(columns=pd.MultiIndex.from_product([losses, seeds])).sort_index()
    return frame.to_numpy(dtype=float).reshape(len(frame), len(losses), len(seeds)), losses


def penalised_counts(results: pd.DataFrame, metric: str, nan_policy: str = "worst") -> pd.Series:
    """Per loss, the number of cases with lesions whose ``metric`` received the worst-value
    penalty (in any seed); all zero under ``"exclude"`` or for a metric that is no distance.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a"], "seed": 0, "case_id": ["1", "2"],
        ...     "hd95": [2.0, float("nan")], "ref_empty": False, "pred_empty": [False, True]})
        >>> penalised_counts(t, "hd95").to_dict()
        {'a': 1}
    """
    rows = _long(results, metric, nan_policy)
    per_case = rows.groupby(["loss", "case_id"])["penalised"].any()
    return per_case.groupby("loss").sum().astype(int)


def _resampled_means(
    cube: np.ndarray, n_resamples: int, rng: np.random.Generator, chunk: int = 500
) -> np.ndarray:
    """Means over cases of bootstrap resamples of ``cube`` (cases, losses, seeds): cases drawn
    with replacement, then for each drawn case its seeds drawn with replacement; every loss sees
    the same draws (paired). Returns (n_resamples, losses)."""
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
    means = _resampled_means(x[:, None, :], n_resamples, rng)[:, 0]
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


def _nanmean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def _per_seed_means(results: pd.DataFrame, metric: str, nan_policy: str) -> pd.DataFrame:
    """Losses x seeds: the mean of ``metric`` over the cases with lesions within each seed."""
    rows = _long(results, metric, nan_policy)
    return rows.groupby(["loss", "seed"])["value"].mean().unstack("seed").sort_index()


def aggregate(
    results: pd.DataFrame,
    metrics: Sequence[str],
    n_resamples: int = 10_000,
    seed: int = 0,
    nan_policy: str = "worst",
) -> pd.DataFrame:
    """Per loss and metric, over the cases with lesions (seeds averaged per case first): mean,
    95% bootstrap CI (cases and seeds resampled), number of cases used, excluded (NaN left) and
    penalised (worst value given), and the seed-to-seed spread (standard deviation of the
    per-seed means; NaN with one seed).

    Returns:
        DataFrame indexed by loss with columns ``(metric, statistic)``.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 4, "seed": [0, 0, 1, 1], "case_id": ["1", "2"] * 2,
        ...     "dice": [0.2, 0.4, 0.4, 0.6], "ref_empty": False})
        >>> row = aggregate(t, ["dice"], n_resamples=100).loc["a", "dice"]
        >>> round(float(row["mean"]), 3), int(row["n"]), round(float(row["seed_sd"]), 4)
        (0.4, 2, 0.1414)
    """
    rows: dict[str, dict[tuple[str, str], float]] = {}
    for metric in metrics:
        cube, losses = _cube(results, metric, nan_policy)
        per_seed = _per_seed_means(results, metric, nan_policy)
        penalised = penalised_counts(results, metric, nan_policy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            per_case = np.nanmean(cube, axis=2)
        for j, loss in enumerate(losses):
            low, high = bootstrap_ci(cube[:, j, :], n_resamples, seed=seed)
            spread = per_seed.loc[loss].std(ddof=1) if per_seed.shape[1] > 1 else float("nan")
            rows.setdefault(loss, {}).update(
                {
                    (metric, "mean"): _nanmean(per_case[:, j]),
                    (metric, "low"): low,
                    (metric, "high"): high,
                    (metric, "n"): float(np.isfinite(per_case[:, j]).sum()),
                    (metric, "excluded"): float(np.isnan(per_case[:, j]).sum()),
                    (metric, "penalised"): float(penalised.get(loss, 0)),
                    (metric, "seed_sd"): float(spread),
                }
            )
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame.sort_index()


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
def _signed_rank_cdf(n: int) -> np.ndarray:
    """P(T+ <= t) for t = 0 .. n(n+1)/2, T+ the Wilcoxon signed-rank statistic of n untied,
    non-zero differences under the null (each rank's sign a fair coin)."""
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
        k = int(np.searchsorted(_signed_rank_cdf(n), alpha, side="right"))
    else:
        sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
        k = math.floor(m / 2 + 0.5 - sps.norm.ppf(1 - alpha) * sd)  # continuity-corrected
    low, high = (walsh[k - 1], walsh[m - k]) if k >= 1 else (float("nan"), float("nan"))
    return HodgesLehmann(float(np.median(walsh)), float(low), float(high))


def _wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; 1 when there is no non-zero difference."""
    if differences.size == 0 or np.all(differences == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small samples and ties: scipy notes its fallback
        return float(sps.wilcoxon(differences).pvalue)


def pairwise_tests(
    results: pd.DataFrame, metric: str, nan_policy: str = "worst", level: float = 0.95
) -> pd.DataFrame:
    """Every pair of losses on the per-case values of ``metric`` (cases with lesions, seeds
    averaged, missing-distance policy applied, cases with a NaN on either side left out).

    For each unordered pair ``(a, b)`` with ``a < b``: number of cases, Hodges-Lehmann
    estimate of the paired difference ``a - b`` with its CI at ``level``, the two-sided
    Wilcoxon signed-rank p-value and its Holm correction over all k(k-1)/2 pairs.

    Returns:
        DataFrame with columns ``a, b, n, hl, low, high, p, p_holm``.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 6 + ["b"] * 6, "seed": 0,
        ...     "case_id": [str(i) for i in range(6)] * 2, "ref_empty": False,
        ...     "dice": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.2, 0.4, 0.5, 0.7, 0.9, 0.65]})
        >>> row = pairwise_tests(t, "dice").iloc[0]
        >>> row["a"], row["b"], round(float(row["hl"]), 3), round(float(row["p"]), 4)
        ('a', 'b', -0.2, 0.0312)
    """
    matrix = case_matrix(results, metric, nan_policy)
    values = matrix.to_numpy(dtype=float)
    names = [str(c) for c in matrix.columns]
    rows = []
    for x, y in itertools.combinations(range(len(names)), 2):
        diff = values[:, x] - values[:, y]
        diff = diff[~np.isnan(diff)]
        hl, low, high = hodges_lehmann(diff, level)
        rows.append((names[x], names[y], diff.size, hl, low, high, _wilcoxon_p(diff)))
    frame = pd.DataFrame(rows, columns=["a", "b", "n", "hl", "low", "high", "p"])
    frame["p_holm"] = holm(frame["p"].to_numpy()) if len(frame) else []
    return frame


def _against(pairs: pd.DataFrame, reference: str) -> pd.DataFrame:
    """The rows of ``pairs`` that involve ``reference``, oriented as ``loss - reference`` and
    indexed by the other loss."""
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


def paired_tests(
    results: pd.DataFrame, metric: str, baseline: str, nan_policy: str = "worst"
) -> pd.DataFrame:
    """Every loss against ``baseline``, from :func:`pairwise_tests`: Hodges-Lehmann estimate
    of ``loss - baseline`` with its 95% CI, Wilcoxon p-value and its Holm correction over all
    pairs of losses.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 6 + ["b"] * 6, "seed": 0,
        ...     "case_id": [str(i) for i in range(6)] * 2, "ref_empty": False,
        ...     "dice": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.2, 0.4, 0.5, 0.7, 0.9, 0.65]})
        >>> r = paired_tests(t, "dice", "a")
        >>> round(float(r.loc["b", "hl"]), 3), round(float(r.loc["b", "p"]), 4)
        (0.2, 0.0312)
    """
    pairs = pairwise_tests(results, metric, nan_policy)
    losses = sorted(set(results["loss"].astype(str)))
    if baseline not in losses:
        raise ValueError(
            f"baseline loss {baseline!r} is not in the results (losses: {', '.join(losses)})"
        )
    return _against(pairs, baseline)


def _sign(metric: str) -> float:
    return -1.0 if facts(metric).higher_is_better else 1.0


def friedman(results: pd.DataFrame, metric: str, nan_policy: str = "worst") -> FriedmanResult:
    """Friedman test over all losses (cases with lesions as blocks, complete cases only) and
    the mean rank of each loss (1 = best, following the metric's direction).

    Returns:
        ``(mean ranks sorted best first, p-value)``; the p-value is NaN with fewer than 3 losses.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 5 + ["b"] * 5 + ["c"] * 5, "seed": 0,
        ...     "case_id": [str(i) for i in range(5)] * 3, "ref_empty": False,
        ...     "dice": [0.1] * 5 + [0.5] * 5 + [0.9] * 5})
        >>> ranks, p = friedman(t, "dice")
        >>> ranks.to_dict(), round(p, 4)
        ({'c': 1.0, 'b': 2.0, 'a': 3.0}, 0.0067)
    """
    matrix = case_matrix(results, metric, nan_policy).dropna()
    k, n = matrix.shape[1], matrix.shape[0]
    if k < 2 or n < 2:
        raise ValueError(f"Friedman's test needs 2+ losses and 2+ complete cases, got {k} and {n}")
    ranks = (_sign(metric) * matrix).rank(axis=1).mean().sort_values(kind="stable")
    if k < 3 or np.ptp(matrix.to_numpy(), axis=1).max() == 0:
        p = float("nan") if k < 3 else 1.0
    else:
        p = float(sps.friedmanchisquare(*[matrix[c] for c in matrix.columns]).pvalue)
    return FriedmanResult(ranks, p)


def critical_difference_groups(
    order: Sequence[str], pairs: pd.DataFrame, alpha: float = 0.05
) -> list[list[str]]:
    """The bars of a critical-difference diagram: maximal runs of consecutive losses (in
    ``order``, best first) whose every pair is not significantly different (Holm-corrected
    p-value of :func:`pairwise_tests` at least ``alpha``). Runs of one loss are left out.

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


def rank_first_probability(
    results: pd.DataFrame,
    metric: str,
    n_resamples: int = 2_000,
    seed: int = 0,
    nan_policy: str = "worst",
) -> pd.Series:
    """How often each loss has the best mean over bootstrap resamples of the cases (and of the
    seeds within each case), every loss on the same draws; a tie for first shares the count.

    Returns:
        Series of probabilities per loss (summing to 1), sorted by loss name.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 4 + ["b"] * 4, "seed": 0, "ref_empty": False,
        ...     "case_id": ["1", "2", "3", "4"] * 2, "dice": [0.9] * 4 + [0.1] * 4})
        >>> rank_first_probability(t, "dice", n_resamples=100).to_dict()
        {'a': 1.0, 'b': 0.0}
    """
    cube, losses = _cube(results, metric, nan_policy)
    means = _resampled_means(cube, n_resamples, np.random.default_rng(seed))
    score = np.where(np.isnan(means), -np.inf, -_sign(metric) * means)
    first = score == score.max(axis=1, keepdims=True)
    share = (first / first.sum(axis=1, keepdims=True)).mean(axis=0)
    return pd.Series(share, index=losses)


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


def seed_agreement(results: pd.DataFrame, metric: str, nan_policy: str = "worst") -> float:
    """Kendall's W of the per-seed rankings: the losses ranked by their mean ``metric`` within
    each seed, then the agreement of those rankings; NaN with one seed.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "b", "c"] * 2, "seed": [0] * 3 + [1] * 3,
        ...     "case_id": "1", "ref_empty": False, "dice": [0.1, 0.5, 0.9, 0.2, 0.6, 0.7]})
        >>> seed_agreement(t, "dice")
        1.0
    """
    per_seed = _per_seed_means(results, metric, nan_policy).dropna()
    return kendall_w(per_seed.to_numpy().T)


def seed_spread(results: pd.DataFrame, metric: str, nan_policy: str = "worst") -> dict[str, float]:
    """How large seed noise is against the gaps between losses: the median over losses of the
    standard deviation of a loss's mean across seeds (NaN with one seed), and the standard
    deviation of the losses' means (seeds averaged).

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
        ...     "case_id": "1", "ref_empty": False, "dice": [0.5, 0.6, 0.8, 0.9]})
        >>> {k: round(v, 4) for k, v in seed_spread(t, "dice").items()}
        {'seed_sd': 0.0707, 'between_sd': 0.2121}
    """
    per_seed = _per_seed_means(results, metric, nan_policy)
    seed_sd = (
        float(per_seed.std(axis=1, ddof=1).median()) if per_seed.shape[1] > 1 else float("nan")
    )
    means = case_matrix(results, metric, nan_policy).mean()
    between = float(means.std(ddof=1)) if means.notna().sum() > 1 else float("nan")
    return {"seed_sd": seed_sd, "between_sd": between}


def _ranking(means: pd.Series, metric: str) -> list[str]:
    """Loss names best first; NaN means last."""
    key = _sign(metric) * means
    return key.sort_values(kind="stable", na_position="last").index.tolist()


def rank_agreement(
    runs: dict[str, pd.DataFrame], metric: str, nan_policy: str = "worst"
) -> RankAgreement:
    """How well the rankings of several runs agree on ``metric``.

    Each run's losses are ranked by their mean (cases with lesions, seeds averaged, policy
    applied; 1 = best). For every pair of runs, Kendall's tau-b between the means of the losses
    both runs hold, with its two-sided p-value (scipy's; exact for small untied samples).

    Args:
        runs: name -> results table, in display order.

    Returns:
        ``(ranks, taus)``: losses x runs ranks (NaN where a run lacks the loss), sorted by the
        first run's rank; and one row per pair of runs with columns ``a, b, n, tau, p``.

    Example:
        >>> a = pd.DataFrame({"loss": ["x", "y", "z"], "seed": 0, "case_id": "1",
        ...     "ref_empty": False, "dice": [0.9, 0.5, 0.1]})
        >>> b = a.assign(dice=[0.1, 0.5, 0.9])
        >>> ranks, taus = rank_agreement({"A": a, "B": b}, "dice")
        >>> ranks.to_dict("list"), float(taus.loc[0, "tau"])
        ({'A': [1.0, 2.0, 3.0], 'B': [3.0, 2.0, 1.0]}, -1.0)
    """
    means = {name: case_matrix(table, metric, nan_policy).mean() for name, table in runs.items()}
    ranks = pd.DataFrame(
        {name: (_sign(metric) * m).rank(method="average") for name, m in means.items()}
    )
    ranks = ranks.sort_values(list(ranks.columns), kind="stable")
    rows = []
    names = list(runs)
    for x, a in enumerate(names):
        for b in names[x + 1 :]:
            both = pd.concat([means[a], means[b]], axis=1, join="inner").dropna()
            if len(both) >= 2:
                result = sps.kendalltau(both.iloc[:, 0], both.iloc[:, 1])
                tau, p = float(result.statistic), float(result.pvalue)
            else:
                tau, p = float("nan"), float("nan")
            rows.append({"a": a, "b": b, "n": len(both), "tau": tau, "p": p})
    return RankAgreement(ranks, pd.DataFrame(rows, columns=["a", "b", "n", "tau", "p"]))


def _json_float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def summarise(
    results: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    nan_policy: str = "worst",
    alpha: float = 0.05,
    n_resamples: int = 2_000,
    seed: int = 0,
) -> dict[str, Any]:
    """The verdict's numbers, JSON-ready (``summary.json``); NaN is written as ``None``.

    ``metrics`` defaults to those of :data:`SUMMARY_METRICS` that the table has.

    Per metric: its direction; the mean per loss over the cases with lesions (each case averaged
    over seeds, policy applied); the ranking, best first; ``not_worse_than_best``, the best loss
    plus every loss whose Holm-corrected (over all pairs) Wilcoxon test against it is not
    significant at ``alpha``; ``significantly_worse``, the others; ``penalised``, the cases per
    loss that received the worst value; ``p_first``, how often each loss ranks first over
    bootstrap resamples; ``seed_sd`` and ``between_sd`` (:func:`seed_spread`). Under ``seeds``:
    their number and Kendall's W of the per-seed rankings per metric (``None`` with one seed).

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 6 + ["b"] * 6, "seed": 0, "ref_empty": False,
        ...     "case_id": [str(i) for i in range(6)] * 2, "dice": [0.9] * 6 + [0.1] * 6})
        >>> s = summarise(t, ["dice"], n_resamples=100)
        >>> s["metrics"]["dice"]["ranking"], s["metrics"]["dice"]["not_worse_than_best"]
        (['a', 'b'], ['a'])
    """
    check_nan_policy(nan_policy)
    if metrics is None:
        metrics = [m for m in SUMMARY_METRICS if m in results.columns]
    lesion = results[~results["ref_empty"].astype(bool)]
    seeds = sorted(results["seed"].unique().tolist())
    out: dict[str, Any] = {
        "nan_policy": nan_policy,
        "alpha": alpha,
        "losses": sorted(set(results["loss"].astype(str))),
        "n_cases": int(results["case_id"].nunique()),
        "n_lesion_cases": int(lesion["case_id"].nunique()),
        "metrics": {},
        "seeds": {"n": len(seeds), "values": [int(s) for s in seeds], "kendall_w": {}},
    }
    for metric in metrics:
        means = case_matrix(results, metric, nan_policy).mean()
        ranking = _ranking(means, metric)
        best = ranking[0]
        against = _against(pairwise_tests(results, metric, nan_policy), best)
        tied = [n for n in ranking[1:] if not against.loc[n, "p_holm"] < alpha]
        group = [best, *tied]
        first = rank_first_probability(results, metric, n_resamples, seed, nan_policy)
        spread = seed_spread(results, metric, nan_policy)
        out["metrics"][metric] = {
            "higher_is_better": facts(metric).higher_is_better,
            "mean": {loss: _json_float(v) for loss, v in means.items()},
            "ranking": ranking,
            "not_worse_than_best": group,
            "significantly_worse": [n for n in ranking if n not in group],
            "penalised": {
                k: int(v) for k, v in penalised_counts(results, metric, nan_policy).items()
            },
            "p_first": {loss: float(v) for loss, v in first.items()},
            "seed_sd": _json_float(spread["seed_sd"]),
            "between_sd": _json_float(spread["between_sd"]),
        }
        out["seeds"]["kendall_w"][metric] = _json_float(seed_agreement(results, metric, nan_policy))
    return out


def overview(results: pd.DataFrame, nan_policy: str = "worst") -> pd.DataFrame:
    """Mean Dice, HD95 and lesion F1 per loss over the test cases that have lesions (seeds
    averaged, missing distances as ``nan_policy`` says), and the mean number of false-positive
    lesions on those that have none; best Dice first.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a", "b", "b"], "seed": 0, "case_id": ["1", "2"] * 2,
        ...     "dice": [0.5, 1.0, 0.7, 1.0], "hd95": [1.0, 0.0, 2.0, 0.0],
        ...     "lesion_f1": [0.5, float("nan"), 1.0, float("nan")],
        ...     "ref_empty": [False, True] * 2, "n_fp_lesions": [0, 1, 0, 0]})
        >>> overview(t).index.tolist(), overview(t)["dice"].tolist()
        (['b', 'a'], [0.7, 0.5])
    """
    out = pd.DataFrame(
        {m: case_matrix(results, m, nan_policy).mean() for m in ("dice", "hd95", "lesion_f1")}
    )
    empty = results[results["ref_empty"].astype(bool)]
    out["fp_lesions_on_empty"] = empty.groupby("loss")["n_fp_lesions"].mean()
    return out.sort_values("dice", ascending=False, kind="stable")


def false_positives(results: pd.DataFrame) -> pd.DataFrame:
    """Per loss, on the lesion-free cases (seeds averaged): number of cases, mean number and
    mean volume (mm^3) of false-positive lesions, and the share of cases with any.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a"], "seed": 0, "case_id": ["1", "2"],
        ...     "ref_empty": True, "n_fp_lesions": [0, 2], "fp_volume_mm3": [0.0, 30.0]})
        >>> false_positives(t).loc["a"].tolist()
        [2.0, 1.0, 15.0, 0.5]
    """
    empty = results[results["ref_empty"].astype(bool)]
    per_case = empty.groupby(["loss", "case_id"])[["n_fp_lesions", "fp_volume_mm3"]].mean()
    grouped = per_case.groupby("loss")
    return pd.DataFrame(
        {
            "cases": grouped.size().astype(float),
            "fp_lesions": grouped["n_fp_lesions"].mean(),
            "fp_volume_mm3": grouped["fp_volume_mm3"].mean(),
            "cases_with_fp": grouped["n_fp_lesions"].apply(lambda s: float((s > 0).mean())),
        }
    )
