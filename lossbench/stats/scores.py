"""The scores structure: a results table turned, once, into arrays the statistics work on.

For each metric, :class:`Scores` holds the values of the cases with reference lesions as an
array of shape (cases, methods, seeds), with the missing-distance policy applied, the mask of the
values that received the worst-value penalty, and the metric's facts. :class:`ScoreTable` holds
every metric's :class:`Scores` of one results table and its lesion-free cases' false positives.
Inside the statistics the compared things are *methods*: the losses of a run, or the methods of
``lossbench score``.

Missing distances: a distance (hd, hd95, asd, assd) is NaN in the results table when exactly one
mask is empty. The policy ``"worst"`` (default) replaces it by the case's ``diagonal_mm`` (the
diagonal of its image extent), or :data:`FALLBACK_DIAGONAL_MM` without that column, so a method
that empties its hard cases is not rewarded for it; ``"exclude"`` leaves it out.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from lossbench._text import either
from lossbench.config.schema import NAN_POLICIES, NanPolicy
from lossbench.metrics.facts import MetricFacts, facts

__all__ = [
    "FALLBACK_DIAGONAL_MM",
    "SUMMARY_METRICS",
    "ScoreTable",
    "Scores",
    "check_nan_policy",
    "method_column",
]

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
"""The metrics of the summary (and ``summary.json``), when the table has them."""


def check_nan_policy(nan_policy: str) -> NanPolicy:
    """Return ``nan_policy`` if it is ``"worst"`` or ``"exclude"``, else raise ``ValueError``.

    Example:
        >>> check_nan_policy("exclude")
        'exclude'
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be {either(NAN_POLICIES)}, got {nan_policy!r}")
    return cast(NanPolicy, nan_policy)


def method_column(results: pd.DataFrame) -> str:
    """The column naming the compared things: ``"method"`` (``lossbench score``, or a table
    read by the report) or ``"loss"`` (a run's table).

    Example:
        >>> method_column(pd.DataFrame({"loss": ["dice"]}))
        'loss'
    """
    return "method" if "method" in results.columns else "loss"


def _values(table: pd.DataFrame, metric: str, nan_policy: str) -> tuple[pd.Series, pd.Series]:
    """``metric`` of the rows with the policy applied, and the mask of penalised values."""
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
    return value, penalised


def _cube(
    frame: pd.DataFrame, cases: list[str], methods: list[str], seeds: list[int]
) -> np.ndarray:
    """Columns of ``frame`` (case_id, method, seed, x) as an array (cases, methods, seeds)."""
    grouped = frame.groupby(["case_id", "method", "seed"])["x"].mean()
    index = pd.MultiIndex.from_product([cases, methods, seeds])
    flat = grouped.reindex(index).to_numpy(dtype=float)
    return flat.reshape(len(cases), len(methods), len(seeds))


@dataclass(frozen=True)
class Scores:
    """One metric over the cases with reference lesions, as arrays.

    Attributes:
        metric: the column of the results table.
        facts: its facts (direction, unit, display).
        nan_policy: how missing distances were counted.
        cases, methods, seeds: the axes, each sorted.
        values: (cases, methods, seeds); NaN where a value is missing or left out.
        penalised: (cases, methods, seeds) booleans: values given the worst value.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
        ...     "case_id": ["c"] * 4, "dice": [0.2, 0.4, 0.6, 0.8], "ref_empty": False})
        >>> s = Scores.from_results(t, "dice")
        >>> s.values.shape, s.methods, s.per_case().round(2).tolist()
        ((1, 2, 2), ('a', 'b'), [[0.3, 0.7]])
    """

    metric: str
    facts: MetricFacts
    nan_policy: NanPolicy
    cases: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    values: np.ndarray
    penalised: np.ndarray

    @classmethod
    def from_results(cls, results: pd.DataFrame, metric: str, nan_policy: str = "worst") -> Scores:
        """The scores of ``metric`` in a results table (a run's, with ``loss``, or a score's,
        with ``method``; no ``seed`` column means one seed, 0).

        Raises:
            ValueError: an unknown policy, or a table without the metric's column.
        """
        policy = check_nan_policy(nan_policy)
        if metric not in results.columns:
            raise ValueError(f"the results table has no column {metric!r}")
        table = results[~results["ref_empty"].astype(bool)]
        value, penalised = _values(table, metric, policy)
        seed = table["seed"] if "seed" in table.columns else pd.Series(0, index=table.index)
        frame = pd.DataFrame(
            {
                "method": table[method_column(table)].astype(str),
                "seed": seed.astype(int),
                "case_id": table["case_id"].astype(str),
            }
        )
        cases, methods = sorted(frame["case_id"].unique()), sorted(frame["method"].unique())
        seeds = sorted(int(s) for s in frame["seed"].unique())
        values = _cube(frame.assign(x=value), cases, methods, seeds)
        hit = _cube(frame.assign(x=penalised.astype(float)), cases, methods, seeds)
        axes = (tuple(cases), tuple(methods), tuple(seeds))
        return cls(metric, facts(metric), policy, *axes, values, np.nan_to_num(hit) > 0)

    @property
    def sign(self) -> float:
        """-1 for a metric where higher is better, +1 otherwise: ``sign * value`` is a cost."""
        return -1.0 if self.facts.higher_is_better else 1.0

    def per_case(self) -> np.ndarray:
        """(cases, methods): each case's value averaged over seeds (NaN where none is known)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN case gives NaN
            return np.nanmean(self.values, axis=2)

    def per_seed(self) -> np.ndarray:
        """(methods, seeds): each seed's mean over the cases."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(self.values, axis=0)

    def means(self) -> np.ndarray:
        """(methods,): the mean over cases of :meth:`per_case` (NaN where none is known)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(self.per_case(), axis=0)

    def penalised_cases(self) -> np.ndarray:
        """(methods,): the number of cases given the worst value in any seed."""
        return self.penalised.any(axis=2).sum(axis=0)

    def matrix(self) -> pd.DataFrame:
        """:meth:`per_case` as a DataFrame, cases x methods."""
        frame = pd.DataFrame(self.per_case(), index=list(self.cases), columns=list(self.methods))
        return frame.rename_axis(index="case_id", columns="method")

    def renamed(self, names: Mapping[str, str]) -> Scores:
        """The same scores with methods renamed (names not in ``names`` kept), order kept."""
        methods = tuple(names.get(m, m) for m in self.methods)
        return dataclasses.replace(self, methods=methods)


@dataclass(frozen=True)
class ScoreTable:
    """Every metric's :class:`Scores` of one results table, and its lesion-free cases.

    Attributes:
        unit: what the methods are: ``"loss"`` (a run) or ``"method"`` (``lossbench score``).
        methods: the compared methods, sorted; seeds: the seeds, sorted.
        n_cases: test cases; n_lesion_cases: those with reference lesions.
        scores: metric -> :class:`Scores`.
        fp_lesions, fp_volume_mm3: (lesion-free cases, methods, seeds) false-positive lesions
            and their volume (mm^3); empty arrays without such cases.
    """

    unit: str
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    n_cases: int
    n_lesion_cases: int
    scores: dict[str, Scores]
    fp_lesions: np.ndarray
    fp_volume_mm3: np.ndarray

    @classmethod
    def from_results(
        cls,
        results: pd.DataFrame,
        nan_policy: str = "worst",
        metrics: Sequence[str] | None = None,
        unit: str | None = None,
    ) -> ScoreTable:
        """Build every structure from a results table once. ``metrics`` defaults to those of
        :data:`SUMMARY_METRICS` the table has; ``unit`` to the table's method column's name.

        Example:
            >>> t = pd.DataFrame({"loss": ["a", "b"], "seed": 0, "case_id": "1",
            ...     "ref_empty": False, "dice": [0.4, 0.6]})
            >>> table = ScoreTable.from_results(t)
            >>> table.methods, table.scores["dice"].means().tolist()
            (('a', 'b'), [0.4, 0.6])
        """
        if metrics is None:
            metrics = [m for m in SUMMARY_METRICS if m in results.columns]
        scores = {m: Scores.from_results(results, m, nan_policy) for m in metrics}
        method = method_column(results)
        methods = tuple(sorted(results[method].astype(str).unique()))
        seeds = sorted(int(s) for s in results["seed"].unique()) if "seed" in results else [0]
        empty = results[results["ref_empty"].astype(bool)]
        fp = [_lesion_free(empty, c, methods, seeds) for c in ("n_fp_lesions", "fp_volume_mm3")]
        lesion = results[~results["ref_empty"].astype(bool)]
        counts = (int(results["case_id"].nunique()), int(lesion["case_id"].nunique()))
        return cls(unit or method, methods, tuple(seeds), *counts, scores, fp[0], fp[1])

    @property
    def nan_policy(self) -> NanPolicy:
        """The missing-distance policy the scores were built with."""
        return next(iter(self.scores.values())).nan_policy if self.scores else "worst"

    def renamed(self, names: Mapping[str, str]) -> ScoreTable:
        """The same table with methods renamed (for display), order kept."""
        scores = {m: s.renamed(names) for m, s in self.scores.items()}
        methods = tuple(names.get(m, m) for m in self.methods)
        return dataclasses.replace(self, methods=methods, scores=scores)


def _lesion_free(
    empty: pd.DataFrame, column: str, methods: tuple[str, ...], seeds: list[int]
) -> np.ndarray:
    """(lesion-free cases, methods, seeds) of ``column``; empty without such rows or column."""
    if empty.empty or column not in empty.columns:
        return np.zeros((0, len(methods), len(seeds)))
    frame = pd.DataFrame(
        {
            "case_id": empty["case_id"].astype(str),
            "method": empty[method_column(empty)].astype(str),
            "seed": empty["seed"].astype(int) if "seed" in empty else 0,
            "x": empty[column].astype(float),
        }
    )
    return _cube(frame, sorted(frame["case_id"].unique()), list(methods), seeds)
