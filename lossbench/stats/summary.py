"""The typed summary of a results table: what the verdict, the report, ``summary.json`` and
``lossbench compare`` read.

:func:`summarise` computes it from a :class:`~lossbench.stats.scores.ScoreTable`;
:meth:`Summary.to_json` writes ``summary.json`` (NaN as ``null``) and :meth:`Summary.from_json`
reads it back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lossbench.stats.rankings import (
    against,
    first_place,
    pairwise,
    ranking,
    seed_concordance,
    seed_noise,
)
from lossbench.stats.scores import Scores, ScoreTable

__all__ = [
    "Comparison",
    "MetricSummary",
    "Protocol",
    "SeedSummary",
    "Summary",
    "Tau",
    "summarise",
]


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


@dataclass(frozen=True)
class MetricSummary:
    """One metric's verdict numbers.

    Attributes:
        higher_is_better: the metric's direction.
        mean: per method, over the cases with lesions (each case averaged over seeds).
        ranking: the methods, best mean first.
        not_worse_than_best: the best method plus every method whose Holm-corrected Wilcoxon
            test against it is not significant at the summary's alpha.
        significantly_worse: the others.
        penalised: per method, the cases that received the worst value.
        p_first: per method, how often it ranks first over bootstrap resamples.
        seed_sd: median over methods of the SD of a method's mean across seeds (None with one).
        between_sd: SD of the methods' means.
    """

    higher_is_better: bool
    mean: dict[str, float | None]
    ranking: list[str]
    not_worse_than_best: list[str]
    significantly_worse: list[str]
    penalised: dict[str, int]
    p_first: dict[str, float]
    seed_sd: float | None
    between_sd: float | None


@dataclass(frozen=True)
class SeedSummary:
    """The seeds: their number and values, and Kendall's W of the per-seed rankings per metric
    (None with one seed)."""

    n: int
    values: list[int]
    kendall_w: dict[str, float | None]


@dataclass(frozen=True)
class Protocol:
    """How the methods were trained: ``init`` is ``pretrain`` (fine-tuned from one shared
    pretraining with ``pretrain_loss``), ``scratch``, ``file``, ``scored`` (predictions given
    to ``lossbench score``) or ``unknown``; ``text`` says it in words."""

    preset: str | None
    init: str
    pretrain_loss: str | None
    text: str


@dataclass(frozen=True)
class Tau:
    """Kendall's tau between two runs' rankings of ``n`` shared methods, and its p-value (None
    when it cannot be computed)."""

    tau: float | None
    p: float | None
    n: int


@dataclass(frozen=True)
class Comparison:
    """The rank agreement of a run with another run (``run``, trained under ``protocol``)."""

    run: str
    protocol: str
    tau: dict[str, Tau]


UNKNOWN = Protocol(None, "unknown", None, "unknown (the run folder has no config.toml)")


@dataclass(frozen=True)
class Summary:
    """Everything the verdict says, as data.

    Attributes:
        unit: ``"loss"`` for a run, ``"method"`` for ``lossbench score``.
        methods: the compared methods, sorted.
        nan_policy, alpha: the missing-distance policy and the tests' level.
        n_cases, n_lesion_cases: test cases, and those with new lesions.
        metrics: metric -> :class:`MetricSummary`.
        seeds: :class:`SeedSummary`.
        protocol: :class:`Protocol`.
        comparisons: rank agreement with other runs.
    """

    unit: str
    methods: list[str]
    nan_policy: str
    alpha: float
    n_cases: int
    n_lesion_cases: int
    metrics: dict[str, MetricSummary]
    seeds: SeedSummary
    protocol: Protocol = UNKNOWN
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def words(self) -> tuple[str, str]:
        """What the methods are called, singular and plural: ``("loss", "losses")`` or
        ``("method", "methods")``."""
        return ("method", "methods") if self.unit == "method" else ("loss", "losses")

    def to_json(self) -> dict[str, Any]:
        """``summary.json``'s content: a run's lists its ``losses``, a score's its ``methods``
        after ``"unit": "method"``; NaN is None.

        Example:
            >>> s = Summary("loss", ["a"], "worst", 0.05, 1, 1, {}, SeedSummary(1, [0], {}))
            >>> list(s.to_json())[:4]
            ['nan_policy', 'alpha', 'losses', 'n_cases']
        """
        data = dataclasses.asdict(self)
        head = {"nan_policy": self.nan_policy, "alpha": self.alpha}
        counts = {"n_cases": self.n_cases, "n_lesion_cases": self.n_lesion_cases}
        rest = {k: data[k] for k in ("metrics", "seeds", "protocol", "comparisons")}
        if self.unit == "method":
            return {"unit": "method", "methods": self.methods, **head, **counts, **rest}
        return {**head, "losses": self.methods, **counts, **rest}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        """The summary :meth:`to_json` wrote (a 0.1 ``summary.json`` too)."""
        unit = data.get("unit", "loss")
        comparisons = [
            Comparison(c["run"], c["protocol"], {m: Tau(**t) for m, t in c["tau"].items()})
            for c in data.get("comparisons", [])
        ]
        return cls(
            unit=unit,
            methods=list(data["methods" if unit == "method" else "losses"]),
            nan_policy=data["nan_policy"],
            alpha=data.get("alpha", 0.05),
            n_cases=data["n_cases"],
            n_lesion_cases=data["n_lesion_cases"],
            metrics={m: MetricSummary(**e) for m, e in data["metrics"].items()},
            seeds=SeedSummary(**data["seeds"]),
            protocol=Protocol(**data["protocol"]) if "protocol" in data else UNKNOWN,
            comparisons=comparisons,
        )

    def __getitem__(self, key: str) -> Any:
        """``summary["metrics"]``: the JSON view, for scripts written against 0.1, where
        :func:`summarise` returned a dictionary."""
        return self.to_json()[key]


def metric_summary(scores: Scores, alpha: float, n_resamples: int, seed: int) -> MetricSummary:
    """One metric's :class:`MetricSummary` (see :func:`summarise`)."""
    methods = list(scores.methods)
    order = ranking(scores)
    best = order[0]
    tests = against(pairwise(scores), best)
    group = [best, *(n for n in order[1:] if not tests.loc[n, "p_holm"] < alpha)]
    first = first_place(scores, n_resamples, seed)
    spread = seed_noise(scores)
    means = scores.means()
    return MetricSummary(
        higher_is_better=scores.facts.higher_is_better,
        mean={m: _finite(v) for m, v in zip(methods, means, strict=True)},
        ranking=order,
        not_worse_than_best=group,
        significantly_worse=[n for n in order if n not in group],
        penalised={m: int(v) for m, v in zip(methods, scores.penalised_cases(), strict=True)},
        p_first={m: float(v) for m, v in first.items()},
        seed_sd=_finite(spread["seed_sd"]),
        between_sd=_finite(spread["between_sd"]),
    )


def summarise(
    results: pd.DataFrame | ScoreTable,
    metrics: Sequence[str] | None = None,
    nan_policy: str = "worst",
    alpha: float = 0.05,
    n_resamples: int = 2_000,
    seed: int = 0,
) -> Summary:
    """The verdict's numbers for a results table (or its :class:`ScoreTable`, whose policy then
    applies).

    ``metrics`` defaults to those of :data:`~lossbench.stats.scores.SUMMARY_METRICS` the table
    has. Per metric (:class:`MetricSummary`): the means over the cases with lesions, the
    ranking, the methods not worse than the best (Holm over all pairs, Wilcoxon at ``alpha``),
    the penalised cases, the rank-first probability over ``n_resamples`` bootstrap resamples
    (seeded by ``seed``) and the seed spread; per seed set, Kendall's W of the per-seed rankings.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 6 + ["b"] * 6, "seed": 0, "ref_empty": False,
        ...     "case_id": [str(i) for i in range(6)] * 2, "dice": [0.9] * 6 + [0.1] * 6})
        >>> s = summarise(t, ["dice"], n_resamples=100)
        >>> s.metrics["dice"].ranking, s.metrics["dice"].not_worse_than_best
        (['a', 'b'], ['a'])
    """
    table = (
        ScoreTable.from_results(results, nan_policy, metrics)
        if isinstance(results, pd.DataFrame)
        else results
    )
    names = list(table.scores) if metrics is None else list(metrics)
    summaries = {m: metric_summary(table.scores[m], alpha, n_resamples, seed) for m in names}
    concordance = {m: _finite(seed_concordance(table.scores[m])) for m in names}
    return Summary(
        unit=table.unit if table.unit == "method" else "loss",
        methods=list(table.methods),
        nan_policy=table.nan_policy,
        alpha=alpha,
        n_cases=table.n_cases,
        n_lesion_cases=table.n_lesion_cases,
        metrics=summaries,
        seeds=SeedSummary(len(table.seeds), [int(s) for s in table.seeds], concordance),
    )
