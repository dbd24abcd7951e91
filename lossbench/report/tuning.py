"""The report's tuning sections, for a run of the tuned protocol (``tuning.csv`` in its folder):
what each loss chose on the validation cases, and, against a default run given with
``--compare``, what tuning changed on the test cases."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from lossbench.losses.variants import shortest
from lossbench.metrics.facts import facts
from lossbench.report.tables import hl_interval
from lossbench.stats import ScoreTable, planned_pairs, statistics

__all__ = [
    "TUNED_METRICS",
    "against_default_section",
    "tuning_section",
    "tuning_sections",
    "tuning_summary",
    "tuning_table",
]

TUNED_METRICS = ("dice", "hd95", "lesion_f1")


def _configuration(row: pd.Series) -> str:
    return f"{row['variant']} @ lr {shortest(float(row['lr']))}"


def tuning_table(tried: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per loss: the chosen configuration, its validation score against the defaults', and how
    much of the budget it used.

    Example:
        >>> tried = pd.DataFrame({"loss": ["a", "a"], "variant": ["a", "a(x=1)"],
        ...     "lr": [0.001, 0.01], "default": [True, False], "dice": [0.5, 0.6],
        ...     "chosen": [False, True], "budget": 8, "unused": 6})
        >>> tuning_table(tried, "dice").loc["a"].tolist()
        ['a(x=1) @ lr 0.01', '0.600', '0.500', '+0.100', '2 of 8 (6 unused)']
    """
    fact = facts(metric)
    rows = {}
    for loss, group, chosen, default in _choices(tried):
        gain = chosen[metric] - default[metric]
        budget, unused = int(group["budget"].iloc[0]), int(group["unused"].iloc[0])
        rows[loss] = {
            "chosen configuration": _configuration(chosen),
            f"validation {fact.label}, chosen": fact.format(chosen[metric]),
            "defaults": fact.format(default[metric]),
            "gain": fact.format(gain, signed=True),
            "configurations": f"{len(group)} of {budget}"
            + (f" ({unused} unused)" if unused else ""),
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "loss"
    return frame


def tuning_section(
    tried: pd.DataFrame, metric: str, validation_cases: int
) -> tuple[str, str, pd.DataFrame]:
    """The "Tuning" section (title, text, table) of a tuned run."""
    budget = int(tried["budget"].iloc[0])
    changed = int((~tried[tried["chosen"]]["default"].astype(bool)).sum())
    text = (
        f"Every loss had the same budget of {budget} configurations: its defaults, then a seeded "
        "Sobol sample over its declared ranges (and the learning rates of `tune.lr`), each "
        f"trained on the training cases outside the {validation_cases} validation cases and "
        f"scored on those by mean {facts(metric).label} over the cases with lesions; a tie goes "
        "to the defaults. The test cases were not read. The chosen configuration was then "
        f"trained on all training cases and tested. {changed} of {tried['loss'].nunique()} "
        "losses chose other than their defaults. A loss with fewer distinct configurations "
        "than the budget used what it has (`tuning.csv` lists every configuration tried)."
    )
    return ("Tuning", text, tuning_table(tried, metric))


def against_default_section(
    tuned: pd.DataFrame, defaults: pd.DataFrame, source: str | Path, nan_policy: str
) -> tuple[str, str, pd.DataFrame] | None:
    """Tuned against default on the test cases, per loss the two runs share (results tables as
    :func:`lossbench.report._io.load_checked` reads them, a ``method`` column): the paired
    Hodges-Lehmann difference (tuned minus default) with its 95% CI and the Wilcoxon p-value,
    Holm-corrected over the losses; None when they share no loss or no case."""
    shared = sorted(set(tuned["method"]) & set(defaults["method"]))
    cases = set(tuned["case_id"]) & set(defaults["case_id"])
    if not shared or not cases:
        return None
    kept = defaults[defaults["method"].isin(shared)]
    both = pd.concat(
        [tuned[tuned["method"].isin(shared)], kept.assign(method=kept["method"] + " default")]
    )
    table = ScoreTable.from_results(both[both["case_id"].isin(cases)], nan_policy)
    pairs: Sequence[tuple[str, str]] = [(loss, f"{loss} default") for loss in shared]
    out = pd.DataFrame(index=pd.Index(shared, name="loss"))
    for metric in (m for m in TUNED_METRICS if m in table.scores):
        fact = facts(metric)
        frame = planned_pairs(table.scores[metric], pairs)
        out[f"Δ{fact.label} tuned - default (HL [95% CI])"] = [
            hl_interval(fact, r.hl, r.low, r.high) for r in frame.itertuples()
        ]
        out[f"p {fact.label} (Holm)"] = [f"{p:.3f}" for p in frame["p_holm"]]
    taus = "; ".join(
        _tau(table, metric, shared) for metric in TUNED_METRICS if metric in table.scores
    )
    text = (
        f"Each loss tuned (this run) against its defaults in {source}, on the {len(cases)} test "
        "cases both runs scored: the Hodges-Lehmann estimate of the per-case difference, tuned "
        "minus default, with its 95% CI, and the two-sided Wilcoxon signed-rank p-value, "
        f"Holm-corrected over the {len(shared)} losses (per metric). Rank agreement between the "
        f"default and the tuned ranking by mean (Kendall's tau): {taus}."
    )
    return (f"Tuned against default ({source})", text, out)


def _tau(table: ScoreTable, metric: str, losses: Sequence[str]) -> str:
    """Kendall's tau between the tuned and the default ranking of ``losses`` by mean."""
    from scipy.stats import kendalltau

    means = statistics(table.scores[metric], n_resamples=1)["mean"]
    tuned, default = means.loc[list(losses)], means.loc[[f"{loss} default" for loss in losses]]
    if len(losses) < 3:
        return f"{facts(metric).label} n/a ({len(losses)} losses)"
    result = kendalltau(tuned.to_numpy(), default.to_numpy())
    return f"{facts(metric).label} {result.statistic:.2f} (p = {result.pvalue:.2g})"


def _tried(root: Path) -> tuple[pd.DataFrame, str] | None:
    """A tuned run folder's ``tuning.csv`` and ``tune.metric``; None for a run that did not
    tune."""
    from lossbench.config import from_toml
    from lossbench.layout import RunLayout

    layout = RunLayout(root)
    if not layout.tuning.is_file():
        return None
    return pd.read_csv(layout.tuning), from_toml(layout.config).tune.metric


def _choices(tried: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame, pd.Series, pd.Series]]:
    """Per loss of ``tuning.csv``: its rows, the chosen one and the defaults'."""
    for loss, group in tried.groupby("loss", sort=False):
        yield str(loss), group, group[group["chosen"]].iloc[0], group[group["default"]].iloc[0]


def tuning_sections(
    root: Path, results: pd.DataFrame, compare: Sequence[str | Path], nan_policy: str
) -> list[tuple[str, str, pd.DataFrame]]:
    """The tuning sections of the run folder ``root``: none unless it tuned (``tuning.csv``),
    else "Tuning" and one "Tuned against default" per ``compare`` run sharing its losses."""
    from lossbench.layout import RunLayout
    from lossbench.report._io import load_checked

    found = _tried(root)
    if found is None:
        return []
    tried, metric = found
    validation = len(json.loads(RunLayout(root).splits.read_text()).get("validation", []))
    sections = [tuning_section(tried, metric, validation)]
    for other in compare:
        section = against_default_section(results, load_checked(Path(other))[0], other, nan_policy)
        if section is not None:
            sections.append(section)
    return sections


def tuning_summary(root: Path) -> dict[str, dict] | None:
    """``summary.json``'s ``tuning``: per loss, the chosen configuration and learning rate, its
    validation score and the defaults', the configurations tried and the budget; None for a run
    that did not tune."""
    found = _tried(root)
    if found is None:
        return None
    tried, metric = found
    return {
        loss: {
            "variant": str(chosen["variant"]),
            "lr": float(chosen["lr"]),
            "metric": metric,
            "validation": _finite(chosen[metric]),
            "defaults_validation": _finite(default[metric]),
            "configurations": len(group),
            "budget": int(group["budget"].iloc[0]),
        }
        for loss, group, chosen, default in _choices(tried)
    }


def _finite(value: float) -> float | None:
    return float(value) if pd.notna(value) else None
