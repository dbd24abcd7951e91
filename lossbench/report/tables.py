"""The report's tables as DataFrames of display strings (rendered to markdown and HTML).

Statistics come from :mod:`lossbench.stats`; this module only formats them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lossbench.metrics.facts import MetricFacts, facts
from lossbench.stats import (
    ScoreTable,
    against,
    coefficient_of_variation,
    false_positives,
    pairwise,
    statistics,
)

__all__ = [
    "AGGREGATION_PROTOCOL",
    "MAIN_METRICS",
    "benchmark_ms",
    "cost_table",
    "cv_table",
    "fp_table",
    "hl_interval",
    "main_table",
    "paired_table",
    "policy_note",
    "rank_table",
]

AGGREGATION_PROTOCOL = (
    "Aggregation protocol (MSSEG-2's): segmentation and lesion-detection metrics are averaged "
    "over the test cases that have reference lesions; cases without are summarised separately "
    "by their false-positive lesions (Table 4). With several seeds a case's value is first "
    "averaged over seeds, and the seed-to-seed spread of the mean Dice is its own column. "
    "Brackets hold 95% percentile bootstrap intervals (10,000 resamples of cases, and of the "
    "seeds within each case when there are several; seeded). Bold marks the best mean per "
    "column. After a value, (k worst) counts the cases given the worst value, (-k) those left "
    "out."
)
"""How Table 1 aggregates, in words (the report's protocol paragraph)."""

MAIN_METRICS = ("dice", "jaccard", "hd95", "asd", "precision", "lesion_f1")
EXTENDED_METRICS = ("nsd", "recall", "lesion_precision", "lesion_recall")


def _cell(fact: MetricFacts, row: pd.Series, best: float) -> str:
    """One Table 1 cell: the mean (bold when best), its interval, and what the policy did."""
    text = fact.format(row["mean"])
    if np.isfinite(row["mean"]) and row["mean"] == best:
        text = f"**{text}**"
    if np.isfinite(row["low"]):
        low, high = (fact.format(row[k]) for k in ("low", "high"))
        text += f" [{low}, {high}]"
    if int(row["excluded"]):
        text += f" (-{int(row['excluded'])})"
    if int(row["penalised"]):
        text += f" ({int(row['penalised'])} worst)"
    return text


def main_table(
    table: ScoreTable,
    metrics: Sequence[str] = MAIN_METRICS,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Table 1: mean [95% bootstrap CI] per method and metric over the cases with lesions; the
    best mean per column in bold; ``(k worst)`` after a value when k cases received the worst
    value (policy ``worst``) or ``(-k)`` when k were left out (``exclude``); a seed-spread column
    (SD of per-seed mean Dice) when there are several seeds.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a", "b", "b"], "seed": 0, "case_id": ["1", "2"] * 2,
        ...     "dice": [0.5, 0.7, 0.8, 0.9], "ref_empty": False})
        >>> table = ScoreTable.from_results(t)
        >>> main_table(table, ["dice"], n_resamples=50).loc["b", "DC ↑"].startswith("**0.850**")
        True
    """
    stats = {m: statistics(table.scores[m], n_resamples, seed) for m in metrics}
    out = pd.DataFrame(index=stats[metrics[0]].index)
    for metric in metrics:
        fact, frame = facts(metric), stats[metric]
        best = frame["mean"].max() if fact.higher_is_better else frame["mean"].min()
        out[fact.header] = [_cell(fact, frame.loc[m], best) for m in out.index]
    if len(table.seeds) > 1 and "dice" in metrics:
        out["DC seed SD"] = [f"{v:.3f}" for v in stats["dice"]["seed_sd"]]
    order = stats[metrics[0]]["mean"].sort_values(
        ascending=not facts(metrics[0]).higher_is_better, kind="stable"
    )
    return out.loc[order.index]


def policy_note(table: ScoreTable, metrics: Sequence[str]) -> str:
    """One sentence for a table's caption: the missing-distance policy and, for the distance
    metrics among ``metrics``, how many cases of each method it touched.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "b"], "seed": 0, "case_id": "1", "ref_empty": False,
        ...     "pred_empty": [True, False], "hd95": [float("nan"), 2.0]})
        >>> policy_note(ScoreTable.from_results(t), ["hd95"]).split(". ")[-1]
        'Cases given the worst value: HD95 (mm): a 1.'
    """
    worst = table.nan_policy == "worst"
    if worst:
        text = (
            "NaN policy: worst (a distance missing because exactly one mask is empty counts "
            "as the case's image diagonal)."
        )
    else:
        text = (
            "NaN policy: exclude (a distance missing because exactly one mask is empty is "
            "left out of the mean)."
        )
    counts = []
    for metric in (m for m in metrics if facts(m).is_distance and m in table.scores):
        scores = table.scores[metric]
        touched = scores.penalised_cases() if worst else np.isnan(scores.per_case()).sum(axis=0)
        named = ", ".join(
            f"{m} {int(n)}" for m, n in zip(scores.methods, touched, strict=True) if n
        )
        counts.append(f"{facts(metric).label}: {named or 'none'}")
    if counts:
        verb = "given the worst value" if worst else "left out"
        text += f" Cases {verb}: " + "; ".join(counts) + "."
    return text


def cv_table(
    table: ScoreTable, metrics: Sequence[str] = ("dice", "precision", "lesion_f1")
) -> pd.DataFrame:
    """Table 2: coefficient of variation across cases (SD with ddof=1 over the mean) per
    method.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 3, "seed": 0, "case_id": ["1", "2", "3"],
        ...     "dice": [0.2, 0.4, 0.6], "ref_empty": False})
        >>> cv_table(ScoreTable.from_results(t), ["dice"]).loc["a"].tolist()
        ['0.500']
    """
    out = {}
    for metric in metrics:
        scores = table.scores[metric]
        cases = scores.per_case()
        out[f"CV {facts(metric).label}"] = {
            m: f"{coefficient_of_variation(cases[:, j]):.3f}" for j, m in enumerate(scores.methods)
        }
    return pd.DataFrame(out)


def hl_interval(fact: MetricFacts, estimate: float, low: float, high: float) -> str:
    """A signed Hodges-Lehmann estimate with its interval, ``"+0.100 [+0.050, +0.150]"``
    (``[n/a]`` when the interval is undefined).

    Example:
        >>> hl_interval(facts("dice"), 0.1, 0.05, 0.15), hl_interval(facts("dice"), 0.0, np.nan, 0)
        ('+0.100 [+0.050, +0.150]', '+0.000 [n/a]')
    """
    text = fact.format(estimate, signed=True)
    if not np.isfinite(low):
        return f"{text} [n/a]"
    return f"{text} [{fact.format(low, signed=True)}, {fact.format(high, signed=True)}]"


def paired_table(
    table: ScoreTable, baseline: str, metrics: Sequence[str] = ("dice", "hd95", "lesion_f1")
) -> pd.DataFrame:
    """Table 3: each method against ``baseline``: Hodges-Lehmann estimate of the per-case
    difference (method minus baseline) with its 95% CI, and the Wilcoxon signed-rank p-value,
    Holm-corrected over all pairs of methods, per metric.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 6 + ["b"] * 6, "seed": 0, "ref_empty": False,
        ...     "case_id": [str(i) for i in range(6)] * 2,
        ...     "dice": list(range(6)) + list(range(1, 7))})
        >>> paired_table(ScoreTable.from_results(t), "a", ["dice"]).loc["b"].tolist()
        ['+1.000 [+1.000, +1.000]', '0.031']
    """
    out = pd.DataFrame()
    for metric in metrics:
        frame = against(pairwise(table.scores[metric]), baseline)
        fact = facts(metric)
        label = fact.label
        out[f"Δ{label} (HL [95% CI])"] = [
            hl_interval(fact, r.hl, r.low, r.high) for r in frame.itertuples()
        ]
        out[f"p {label} (Holm)"] = frame["p_holm"].map(lambda v: f"{v:.3f}").tolist()
        out.index = frame.index
    return out


def rank_table(
    ranked: Mapping[str, tuple[pd.Series, float]], many: str = "losses"
) -> tuple[pd.DataFrame, str]:
    """Mean Friedman ranks per metric (from :func:`lossbench.stats.friedman`, 1 = best) as one
    table ordered by the first metric, and a sentence with each test's p-value.

    Example:
        >>> ranks = {"dice": (pd.Series({"c": 1.0, "b": 2.0}), 0.01)}
        >>> frame, sentence = rank_table(ranks)
        >>> frame.index.tolist(), sentence
        (['c', 'b'], 'Friedman test over 2 losses on per-case values: DC p = 0.01.')
    """
    first = next(iter(ranked.values()))[0]
    frame = pd.DataFrame(
        {
            f"mean rank {facts(metric).label}": ranks.reindex(first.index).map(lambda v: f"{v:.2f}")
            for metric, (ranks, _) in ranked.items()
        }
    )
    tests = ", ".join(f"{facts(m).label} p = {p:.3g}" for m, (_, p) in ranked.items())
    sentence = f"Friedman test over {len(first)} {many} on per-case values: {tests}."
    return frame, sentence


def fp_table(table: ScoreTable) -> pd.DataFrame:
    """Table 4: false-positive lesions on the lesion-free test cases."""
    frame = false_positives(table)
    return pd.DataFrame(
        {
            "lesion-free cases": frame["cases"].map(lambda v: f"{v:.0f}"),
            "FP lesions / case": frame["fp_lesions"].map(lambda v: f"{v:.2f}"),
            "FP volume (mm³) / case": frame["fp_volume_mm3"].map(lambda v: f"{v:.1f}"),
            "cases with any FP": frame["cases_with_fp"].map(lambda v: f"{v:.0%}"),
        }
    )


def benchmark_ms(report: dict) -> dict[str, float]:
    """Median forward + backward milliseconds per loss from a pytest-benchmark JSON report of
    ``benchmarks/test_loss_speed.py``.

    Example:
        >>> bench = {"name": "test_lossbench[dice]", "params": {"name": "dice"},
        ...          "stats": {"median": 0.003}}
        >>> benchmark_ms({"benchmarks": [bench]})
        {'dice': 3.0}
    """
    return {
        b["params"]["name"]: b["stats"]["median"] * 1e3
        for b in report.get("benchmarks", [])
        if b.get("name", "").startswith("test_lossbench[")
    }


def _devices(by_seed: pd.Series) -> str:
    names = by_seed.astype(str)
    if names.nunique() == 1:
        return str(names.iloc[0])
    return "; ".join(f"seed {seed}: {name}" for seed, name in names.items())


def cost_table(results: pd.DataFrame, bench_ms: dict[str, float] | None = None) -> pd.DataFrame:
    """Table 5: training seconds per trial (mean over seeds), the device each trial ran on (one
    name when all seeds share it, else per seed) and, when given, the loss's forward + backward
    milliseconds from the benchmark suite.

    Example:
        >>> rows = pd.DataFrame({"method": ["dice"] * 2, "seed": [0, 1], "train_seconds": [2., 4.],
        ...                      "device": ["cpu (2 threads)", "NVIDIA H100"]})
        >>> cost_table(rows).loc["dice"].tolist()
        ['3.0', 'seed 0: cpu (2 threads); seed 1: NVIDIA H100']
    """
    trials = results.groupby(["method", "seed"]).first()
    seconds = trials["train_seconds"].groupby("method").mean()
    out = pd.DataFrame({"training (s / trial)": seconds.map(lambda v: f"{v:.1f}")})
    if "device" in trials:
        out["device"] = [_devices(trials.loc[loss, "device"]) for loss in out.index]
    if bench_ms:
        out["forward + backward (ms)"] = [
            f"{bench_ms[n]:.2f}" if n in bench_ms else "" for n in out.index
        ]
    return out
