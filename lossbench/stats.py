"""Statistics of a results table: aggregates, coefficients of variation, bootstrap confidence
intervals, paired tests with Holm correction, Friedman test and mean ranks.

Aggregation protocol (MSSEG-2's): segmentation and detection metrics are averaged over the test
cases that have reference lesions; lesion-free cases are summarised by their false-positive
lesions. With several seeds a case's value is first averaged over seeds. NaN values (a distance
with one mask empty) are left out of a mean and counted. Pure numpy / scipy / pandas; every random
draw takes an explicit seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = [
    "HIGHER_IS_BETTER",
    "aggregate",
    "bootstrap_ci",
    "case_matrix",
    "coefficient_of_variation",
    "false_positives",
    "friedman",
    "holm",
    "paired_tests",
]

HIGHER_IS_BETTER = {
    "dice": True, "jaccard": True, "precision": True, "recall": True, "nsd": True,
    "lesion_precision": True, "lesion_recall": True, "lesion_f1": True,
    "hd": False, "hd95": False, "asd": False, "assd": False,
}  # fmt: skip
"""Direction of each metric of the results table."""


def _lesion_cases(results: pd.DataFrame) -> pd.DataFrame:
    return results[~results["ref_empty"].astype(bool)]


def case_matrix(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Cases x losses matrix of ``metric`` over the cases with lesions, averaged over seeds.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
        ...     "case_id": ["c"] * 4, "dice": [0.2, 0.4, 0.6, 0.8], "ref_empty": False})
        >>> case_matrix(t, "dice").round(2).to_dict()
        {'a': {'c': 0.3}, 'b': {'c': 0.7}}
    """
    table = _lesion_cases(results)
    return table.pivot_table(index="case_id", columns="loss", values=metric, aggfunc="mean",
                             dropna=False)  # fmt: skip


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    n_resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (NaN values left out).

    Example:
        >>> low, high = bootstrap_ci([0.5, 0.6, 0.7, 0.8], seed=0)
        >>> 0.5 <= low < 0.65 < high <= 0.8
        True
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


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


def aggregate(
    results: pd.DataFrame,
    metrics: Sequence[str],
    n_resamples: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per loss and metric, over the cases with lesions (seeds averaged per case first): mean,
    95% bootstrap CI, number of cases used and excluded (NaN), and the seed-to-seed spread
    (standard deviation of the per-seed means; NaN with one seed).

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
    lesion = _lesion_cases(results)
    for metric in metrics:
        matrix = case_matrix(results, metric)
        per_seed = lesion.groupby(["loss", "seed"])[metric].mean().unstack("seed")
        for loss in matrix.columns:
            values = matrix[loss].to_numpy(dtype=float)
            low, high = bootstrap_ci(values, n_resamples, seed=seed)
            spread = per_seed.loc[loss].std(ddof=1) if per_seed.shape[1] > 1 else float("nan")
            rows.setdefault(loss, {}).update({
                (metric, "mean"): _nanmean(values),
                (metric, "low"): low,
                (metric, "high"): high,
                (metric, "n"): float(np.isfinite(values).sum()),
                (metric, "excluded"): float(np.isnan(values).sum()),
                (metric, "seed_sd"): float(spread),
            })  # fmt: skip
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
    order = np.argsort(p)
    m = p.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def paired_tests(results: pd.DataFrame, metric: str, baseline: str) -> pd.DataFrame:
    """Every loss against ``baseline`` on the per-case values of ``metric`` (cases with lesions,
    seeds averaged, cases with a NaN on either side left out): median difference (loss minus
    baseline), Wilcoxon signed-rank p-value and its Holm correction across losses.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 6 + ["b"] * 6, "seed": 0,
        ...     "case_id": [str(i) for i in range(6)] * 2, "ref_empty": False,
        ...     "dice": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.2, 0.4, 0.5, 0.7, 0.9, 0.65]})
        >>> r = paired_tests(t, "dice", "a")
        >>> float(r.loc["b", "median_diff"]), round(float(r.loc["b", "p"]), 4)
        (0.2, 0.0312)
    """
    matrix = case_matrix(results, metric)
    if baseline not in matrix.columns:
        raise ValueError(
            f"baseline loss {baseline!r} is not in the results "
            f"(losses: {', '.join(matrix.columns)})"
        )
    rows = {}
    for loss in matrix.columns:
        if loss == baseline:
            continue
        pair = matrix[[loss, baseline]].dropna()
        diff = (pair[loss] - pair[baseline]).to_numpy()
        if diff.size == 0 or np.all(diff == 0):
            p = 1.0
        else:
            p = float(sps.wilcoxon(pair[loss], pair[baseline]).pvalue)
        rows[loss] = {
            "n": diff.size,
            "median_diff": float(np.median(diff)) if diff.size else float("nan"),
            "p": p,
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    if len(frame):
        frame["p_holm"] = holm(frame["p"].to_numpy())
    return frame


def friedman(
    results: pd.DataFrame, metric: str, alpha: float = 0.05
) -> tuple[pd.Series, float, float]:
    """Friedman test over all losses (cases with lesions as blocks, complete cases only), the
    mean rank of each loss (1 = best, following the metric's direction) and the Nemenyi critical
    difference of mean ranks at ``alpha``.

    Returns:
        ``(mean_ranks sorted best first, p-value, critical difference)``.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 5 + ["b"] * 5 + ["c"] * 5, "seed": 0,
        ...     "case_id": [str(i) for i in range(5)] * 3, "ref_empty": False,
        ...     "dice": [0.1] * 5 + [0.5] * 5 + [0.9] * 5})
        >>> ranks, p, cd = friedman(t, "dice")
        >>> ranks.to_dict(), round(p, 4)
        ({'c': 1.0, 'b': 2.0, 'a': 3.0}, 0.0067)
    """
    matrix = case_matrix(results, metric).dropna()
    k, n = matrix.shape[1], matrix.shape[0]
    if k < 2 or n < 2:
        raise ValueError(f"Friedman's test needs 2+ losses and 2+ complete cases, got {k} and {n}")
    sign = -1.0 if HIGHER_IS_BETTER.get(metric, True) else 1.0
    ranks = (sign * matrix).rank(axis=1).mean().sort_values()
    p = (
        float(sps.friedmanchisquare(*[matrix[c] for c in matrix.columns]).pvalue)
        if k >= 3
        else float("nan")
    )
    q = sps.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    cd = float(q * np.sqrt(k * (k + 1) / (6 * n)))
    return ranks, p, cd


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
    return pd.DataFrame({
        "cases": grouped.size().astype(float),
        "fp_lesions": grouped["n_fp_lesions"].mean(),
        "fp_volume_mm3": grouped["fp_volume_mm3"].mean(),
        "cases_with_fp": grouped["n_fp_lesions"].apply(lambda s: float((s > 0).mean())),
    })  # fmt: skip
