"""The statistics straight from a results table: each function builds the table's
:class:`~lossbench.stats.scores.Scores` and calls the array function that does the work. For
scripts and notebooks; the report builds its :class:`~lossbench.stats.scores.ScoreTable` once and
calls the array functions itself.

A table's compared column is ``loss`` (a run) or ``method`` (``lossbench score``); the results
are indexed by it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lossbench.stats import rankings
from lossbench.stats.scores import Scores, ScoreTable, method_column

__all__ = [
    "aggregate",
    "case_matrix",
    "false_positives",
    "friedman",
    "overview",
    "paired_tests",
    "pairwise_tests",
    "penalised_counts",
    "rank_agreement",
    "rank_first_probability",
    "seed_agreement",
    "seed_spread",
]


def _named(frame: pd.DataFrame | pd.Series, results: pd.DataFrame) -> pd.DataFrame | pd.Series:
    """``frame`` with its method axis named as the table names it."""
    return frame.rename_axis(method_column(results))


def case_matrix(results: pd.DataFrame, metric: str, nan_policy: str = "worst") -> pd.DataFrame:
    """Cases x methods matrix of ``metric`` over the cases with lesions, averaged over seeds,
    with the missing-distance policy applied (rows and columns sorted).

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
        ...     "case_id": ["c"] * 4, "dice": [0.2, 0.4, 0.6, 0.8], "ref_empty": False})
        >>> case_matrix(t, "dice").round(2).to_dict()
        {'a': {'c': 0.3}, 'b': {'c': 0.7}}
    """
    matrix = Scores.from_results(results, metric, nan_policy).matrix()
    return matrix.rename_axis(columns=method_column(results))


def penalised_counts(results: pd.DataFrame, metric: str, nan_policy: str = "worst") -> pd.Series:
    """Per method, the cases with lesions whose ``metric`` received the worst-value penalty (in
    any seed); all zero under ``"exclude"`` or for a metric that is no distance.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a"], "seed": 0, "case_id": ["1", "2"],
        ...     "hd95": [2.0, float("nan")], "ref_empty": False, "pred_empty": [False, True]})
        >>> penalised_counts(t, "hd95").to_dict()
        {'a': 1}
    """
    scores = Scores.from_results(results, metric, nan_policy)
    return _named(pd.Series(scores.penalised_cases(), index=list(scores.methods)), results)


def aggregate(
    results: pd.DataFrame,
    metrics: Sequence[str],
    n_resamples: int = 10_000,
    seed: int = 0,
    nan_policy: str = "worst",
) -> pd.DataFrame:
    """Per method and metric (:func:`lossbench.stats.rankings.statistics`): mean, 95%
    bootstrap CI, cases used, excluded and penalised, and the seed-to-seed spread.

    Returns:
        DataFrame indexed by method with columns ``(metric, statistic)``.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 4, "seed": [0, 0, 1, 1], "case_id": ["1", "2"] * 2,
        ...     "dice": [0.2, 0.4, 0.4, 0.6], "ref_empty": False})
        >>> row = aggregate(t, ["dice"], n_resamples=100).loc["a", "dice"]
        >>> round(float(row["mean"]), 3), int(row["n"]), round(float(row["seed_sd"]), 4)
        (0.4, 2, 0.1414)
    """
    table = ScoreTable.from_results(results, nan_policy, metrics)
    parts = {m: rankings.statistics(table.scores[m], n_resamples, seed) for m in metrics}
    return pd.concat(parts, axis=1).sort_index()


def pairwise_tests(
    results: pd.DataFrame, metric: str, nan_policy: str = "worst", level: float = 0.95
) -> pd.DataFrame:
    """Every pair of methods on ``metric`` (:func:`lossbench.stats.rankings.pairwise`):
    columns ``a, b, n, hl, low, high, p, p_holm``."""
    return rankings.pairwise(Scores.from_results(results, metric, nan_policy), level)


def paired_tests(
    results: pd.DataFrame, metric: str, baseline: str, nan_policy: str = "worst"
) -> pd.DataFrame:
    """Every method against ``baseline``: the Hodges-Lehmann estimate of ``method - baseline``
    with its 95% CI, the Wilcoxon p-value and its Holm correction over all pairs of methods.

    Raises:
        ValueError: ``baseline`` is not one of the methods.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 6 + ["b"] * 6, "seed": 0,
        ...     "case_id": [str(i) for i in range(6)] * 2, "ref_empty": False,
        ...     "dice": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.2, 0.4, 0.5, 0.7, 0.9, 0.65]})
        >>> r = paired_tests(t, "dice", "a")
        >>> round(float(r.loc["b", "hl"]), 3), round(float(r.loc["b", "p"]), 4)
        (0.2, 0.0312)
    """
    scores = Scores.from_results(results, metric, nan_policy)
    if baseline not in scores.methods:
        raise ValueError(
            f"baseline loss {baseline!r} is not in the results (losses: "
            f"{', '.join(sorted(set(results[method_column(results)].astype(str))))})"
        )
    return rankings.against(rankings.pairwise(scores), baseline)


def friedman(
    results: pd.DataFrame, metric: str, nan_policy: str = "worst"
) -> rankings.FriedmanResult:
    """Friedman's test over all methods and each one's mean rank, best first.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 5 + ["b"] * 5 + ["c"] * 5, "seed": 0,
        ...     "case_id": [str(i) for i in range(5)] * 3, "ref_empty": False,
        ...     "dice": [0.1] * 5 + [0.5] * 5 + [0.9] * 5})
        >>> ranks, p = friedman(t, "dice")
        >>> ranks.to_dict(), round(p, 4)
        ({'c': 1.0, 'b': 2.0, 'a': 3.0}, 0.0067)
    """
    return rankings.friedman_of(Scores.from_results(results, metric, nan_policy))


def rank_first_probability(
    results: pd.DataFrame,
    metric: str,
    n_resamples: int = 2_000,
    seed: int = 0,
    nan_policy: str = "worst",
) -> pd.Series:
    """How often each method has the best mean over bootstrap resamples (sorted by name).

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 4 + ["b"] * 4, "seed": 0, "ref_empty": False,
        ...     "case_id": ["1", "2", "3", "4"] * 2, "dice": [0.9] * 4 + [0.1] * 4})
        >>> rank_first_probability(t, "dice", n_resamples=100).to_dict()
        {'a': 1.0, 'b': 0.0}
    """
    scores = Scores.from_results(results, metric, nan_policy)
    return rankings.first_place(scores, n_resamples, seed)


def seed_agreement(results: pd.DataFrame, metric: str, nan_policy: str = "worst") -> float:
    """Kendall's W of the per-seed rankings; NaN with one seed.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "b", "c"] * 2, "seed": [0] * 3 + [1] * 3,
        ...     "case_id": "1", "ref_empty": False, "dice": [0.1, 0.5, 0.9, 0.2, 0.6, 0.7]})
        >>> seed_agreement(t, "dice")
        1.0
    """
    return rankings.seed_concordance(Scores.from_results(results, metric, nan_policy))


def seed_spread(results: pd.DataFrame, metric: str, nan_policy: str = "worst") -> dict[str, float]:
    """The median seed-to-seed SD of a method's mean, and the SD between the methods' means.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
        ...     "case_id": "1", "ref_empty": False, "dice": [0.5, 0.6, 0.8, 0.9]})
        >>> {k: round(v, 4) for k, v in seed_spread(t, "dice").items()}
        {'seed_sd': 0.0707, 'between_sd': 0.2121}
    """
    return rankings.seed_noise(Scores.from_results(results, metric, nan_policy))


def rank_agreement(
    runs: Mapping[str, pd.DataFrame], metric: str, nan_policy: str = "worst"
) -> rankings.RankAgreement:
    """How well several runs' rankings agree on ``metric`` (Kendall's tau per pair of runs).

    Example:
        >>> a = pd.DataFrame({"loss": ["x", "y", "z"], "seed": 0, "case_id": "1",
        ...     "ref_empty": False, "dice": [0.9, 0.5, 0.1]})
        >>> ranks, taus = rank_agreement({"A": a, "B": a.assign(dice=[0.1, 0.5, 0.9])}, "dice")
        >>> ranks.to_dict("list"), float(taus.loc[0, "tau"])
        ({'A': [1.0, 2.0, 3.0], 'B': [3.0, 2.0, 1.0]}, -1.0)
    """
    scores = {n: Scores.from_results(t, metric, nan_policy) for n, t in runs.items()}
    return rankings.run_agreement(scores)


def false_positives(results: pd.DataFrame | ScoreTable) -> pd.DataFrame:
    """Per method, on the lesion-free cases (seeds averaged): number of cases, mean number and
    mean volume (mm^3) of false-positive lesions, and the share of cases with any.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a"], "seed": 0, "case_id": ["1", "2"],
        ...     "ref_empty": True, "n_fp_lesions": [0, 2], "fp_volume_mm3": [0.0, 30.0]})
        >>> false_positives(t).loc["a"].tolist()
        [2.0, 1.0, 15.0, 0.5]
    """
    if isinstance(results, pd.DataFrame):
        results = ScoreTable.from_results(results, metrics=[])
    table = results
    lesions, volume = (np.nanmean(a, axis=2) for a in (table.fp_lesions, table.fp_volume_mm3))
    known = ~np.isnan(lesions)
    count = known.sum(axis=0)
    rows = {
        "cases": count.astype(float),
        "fp_lesions": np.nansum(lesions, axis=0) / count,
        "fp_volume_mm3": np.nansum(volume, axis=0) / count,
        "cases_with_fp": ((lesions > 0) & known).sum(axis=0) / count,
    }
    present = count > 0
    frame = pd.DataFrame(rows, index=list(table.methods))[present]
    return frame.rename_axis(table.unit)


def overview(results: pd.DataFrame, nan_policy: str = "worst") -> pd.DataFrame:
    """Mean Dice, HD95 and lesion F1 per method over the cases that have lesions (seeds
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
    table = ScoreTable.from_results(results, nan_policy, ["dice", "hd95", "lesion_f1"])
    out = pd.DataFrame(
        {m: pd.Series(s.means(), index=list(s.methods)) for m, s in table.scores.items()}
    )
    empty = results[results["ref_empty"].astype(bool)]
    out["fp_lesions_on_empty"] = empty.groupby(method_column(results))["n_fp_lesions"].mean()
    return out.sort_values("dice", ascending=False, kind="stable").rename_axis(table.unit)
