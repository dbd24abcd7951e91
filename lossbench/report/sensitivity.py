"""The report's sensitivity section: how a loss's scores move with its hyper-parameters, for a
run holding several variants of one loss (``lossbench sweep`` makes such runs).

For each loss with two or more variants in the run, the swept parameters are those whose value
differs between them (a variant's other parameters take the loss's defaults). Each variant is
compared with the best of its group (by mean) on each metric: a paired Wilcoxon signed-rank
test, Holm-corrected over the group's comparisons; a variant whose test is not significant at
0.05 is "not worse than the best".
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lossbench.losses import loss_defaults
from lossbench.losses.variants import parse_variant, shortest
from lossbench.metrics.facts import facts
from lossbench.stats import ScoreTable, planned_pairs, statistics

__all__ = [
    "SENSITIVITY_METRICS",
    "Sweep",
    "heatmap_cells",
    "heatmap_panels",
    "sensitivity_sections",
    "sweeps",
]

SENSITIVITY_METRICS = ("dice", "hd95", "lesion_f1")
ALPHA = 0.05


@dataclass(frozen=True)
class Sweep:
    """The variants of one loss in a run.

    Attributes:
        loss: the registered loss.
        params: the swept parameters, in the loss's order.
        values: per variant (the run's method name), its value of each swept parameter.
    """

    loss: str
    params: tuple[str, ...]
    values: Mapping[str, Mapping[str, Any]]


def sweeps(methods: Sequence[str]) -> list[Sweep]:
    """The sweeps among a run's methods: each loss with two or more variants that differ.

    Methods that are no loss variant (a scored method, a loss not installed here) are left out.

    Example:
        >>> [s.params for s in sweeps(["dice", "hytver(beta=0.5)", "hytver", "focal"])]
        [('beta',)]
    """
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for method in methods:
        try:
            variant = parse_variant(method)
        except ValueError:
            continue
        settings = {**loss_defaults(variant.name), **variant.kwargs}
        groups.setdefault(variant.name, {})[method] = settings
    found = []
    for loss, members in groups.items():
        order = list(loss_defaults(loss))
        swept = [
            key
            for key in order
            if len({shortest(m.get(key)) for m in members.values()}) > 1 and key != "reduction"
        ]
        if len(members) >= 2 and swept:
            values = {m: {k: settings[k] for k in swept} for m, settings in members.items()}
            found.append(Sweep(loss, tuple(swept), values))
    return found


def _judged(table: ScoreTable, sweep: Sweep, metric: str, n_resamples: int) -> pd.DataFrame:
    """Per variant: mean, 95% interval and whether it is not worse than the group's best."""
    scores = table.scores[metric]
    stats = statistics(scores, n_resamples).loc[list(sweep.values)]
    sign = 1 if facts(metric).higher_is_better else -1
    best = (sign * stats["mean"]).idxmax()
    others = [m for m in sweep.values if m != best]
    pairs = planned_pairs(scores, [(m, best) for m in others]).set_index("a")
    not_worse = {m: bool(m == best or pairs.loc[m, "p_holm"] >= ALPHA) for m in sweep.values}
    return stats.assign(not_worse=pd.Series(not_worse), best=stats.index == best)


def heatmap_cells(
    judged: pd.DataFrame, sweep: Sweep, rows: str, cols: str | None, higher_is_better: bool
) -> pd.DataFrame:
    """One heatmap's cells: for each value of ``rows`` (and of ``cols``), the best variant over
    the other swept parameters, with its mean, interval and verdict.

    Returns:
        DataFrame with columns ``row, col, method, mean, low, high, not_worse, best`` (``col``
        is "" for a sweep of one parameter).
    """
    cells = []
    keyed = judged.assign(
        row=[shortest(sweep.values[m][rows]) for m in judged.index],
        col=[shortest(sweep.values[m][cols]) if cols else "" for m in judged.index],
    )
    for (row, col), group in keyed.groupby(["row", "col"], sort=False):
        pick = group["mean"].idxmax() if higher_is_better else group["mean"].idxmin()
        entry = group.loc[pick]
        cells.append((row, col, pick, *entry[["mean", "low", "high", "not_worse", "best"]]))
    columns = ["row", "col", "method", "mean", "low", "high", "not_worse", "best"]
    return pd.DataFrame(cells, columns=columns)


def _table(judged: Mapping[str, pd.DataFrame], sweep: Sweep) -> pd.DataFrame:
    index = sorted(sweep.values, key=lambda m: [_order(sweep.values[m][p]) for p in sweep.params])
    out = pd.DataFrame(
        {p: [shortest(sweep.values[m][p]) for m in index] for p in sweep.params}, index=index
    )
    for metric, frame in judged.items():
        fact = facts(metric)
        out[f"{fact.label} mean [95% CI]"] = [
            f"{fact.format(r['mean'])} [{fact.format(r['low'])}, {fact.format(r['high'])}]"
            + (" ★" if r["best"] else " ≈" if r["not_worse"] else "")
            for _, r in frame.loc[index].iterrows()
        ]
    out.index.name = "variant"
    return out


def _order(value: Any) -> tuple[int, Any]:
    """Sort key of a parameter value: numbers by value, before anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value))
    return (1, str(value))


def sensitivity_sections(
    table: ScoreTable, n_resamples: int
) -> list[tuple[Sweep, tuple[str, str, pd.DataFrame], dict[str, pd.DataFrame]]]:
    """For each sweep in the run: the sweep, its section (title, text, table) and its judged
    variants per metric (for the heatmaps)."""
    out = []
    metrics = [m for m in SENSITIVITY_METRICS if m in table.scores]
    for sweep in sweeps(table.methods):
        judged = {m: _judged(table, sweep, m, n_resamples) for m in metrics}
        counts = ", ".join(
            f"{facts(m).label} {int(j['not_worse'].sum())} of {len(j)}" for m, j in judged.items()
        )
        text = (
            f"{len(sweep.values)} variants of {sweep.loss} over {', '.join(sweep.params)} (the "
            "other parameters at their defaults). Each cell: the mean over the cases with "
            "lesions and its 95% bootstrap interval. ★ marks the best mean; ≈ a variant not "
            "significantly worse than it (paired Wilcoxon signed-rank test against the best, "
            f"Holm-corrected over the group's {len(sweep.values) - 1} comparisons, 0.05). Not "
            f"worse than the best: {counts}. The heatmaps show, for each pair of swept "
            "parameters, the best variant over the others."
        )
        section = (f"Sensitivity of {sweep.loss}", text, _table(judged, sweep))
        out.append((sweep, section, judged))
    return out


def heatmap_panels(
    sweep: Sweep, judged: Mapping[str, pd.DataFrame]
) -> dict[tuple[str, str, str], pd.DataFrame]:
    """Every heatmap of a sweep: ``(metric, rows, cols)`` -> its cells (:func:`heatmap_cells`),
    each pair of swept parameters once (one strip for a single parameter)."""
    pairs: list[tuple[str, str | None]] = list(itertools.combinations(sweep.params, 2))
    pairs = pairs or [(sweep.params[0], None)]
    return {
        (metric, rows, cols or ""): heatmap_cells(
            frame, sweep, rows, cols, facts(metric).higher_is_better
        )
        for metric, frame in judged.items()
        for rows, cols in pairs
    }
