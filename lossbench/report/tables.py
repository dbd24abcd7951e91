"""The report's tables as DataFrames of display strings (rendered to markdown and HTML).

Statistics come from :mod:`lossbench.stats`; this module only formats them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lossbench.stats import (
    HIGHER_IS_BETTER,
    aggregate,
    case_matrix,
    coefficient_of_variation,
    false_positives,
    paired_tests,
)

__all__ = [
    "MAIN_METRICS",
    "benchmark_ms",
    "cost_table",
    "cv_table",
    "fp_table",
    "main_table",
    "paired_table",
    "rank_table",
]

MAIN_METRICS = ("dice", "jaccard", "hd95", "asd", "precision", "lesion_f1")
EXTENDED_METRICS = ("nsd", "recall", "lesion_precision", "lesion_recall")
LABELS = {
    "dice": "DC", "jaccard": "JC", "hd95": "HD95 (mm)", "asd": "ASD (mm)", "precision": "PR",
    "lesion_f1": "lesion F1", "nsd": "NSD", "recall": "RC", "lesion_precision": "lesion PR",
    "lesion_recall": "lesion RC", "hd": "HD (mm)", "assd": "ASSD (mm)",
}  # fmt: skip


def _header(metric: str) -> str:
    arrow = "↑" if HIGHER_IS_BETTER.get(metric, True) else "↓"
    return f"{LABELS.get(metric, metric)} {arrow}"


def main_table(
    results: pd.DataFrame, metrics: Sequence[str] = MAIN_METRICS, n_resamples: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """Table 1: mean [95% bootstrap CI] per loss and metric over the cases with lesions; the best
    mean per column in bold; ``(-k)`` after a value when k cases were excluded (NaN), and a
    seed-spread column (SD of per-seed mean Dice) when there are several seeds.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a", "b", "b"], "seed": 0, "case_id": ["1", "2"] * 2,
        ...     "dice": [0.5, 0.7, 0.8, 0.9], "ref_empty": False})
        >>> main_table(t, ["dice"], n_resamples=50).loc["b", "DC ↑"].startswith("**0.850**")
        True
    """
    stats = aggregate(results, metrics, n_resamples=n_resamples, seed=seed)
    out = pd.DataFrame(index=stats.index)
    for metric in metrics:
        means = stats[(metric, "mean")]
        best = means.max() if HIGHER_IS_BETTER.get(metric, True) else means.min()
        digits = 3 if HIGHER_IS_BETTER.get(metric, True) else 2
        cells = []
        for loss in stats.index:
            mean = means[loss]
            text = f"{mean:.{digits}f}" if np.isfinite(mean) else "n/a"
            if np.isfinite(mean) and mean == best:
                text = f"**{text}**"
            low, high = stats.loc[loss, (metric, "low")], stats.loc[loss, (metric, "high")]
            if np.isfinite(low):
                text += f" [{low:.{digits}f}, {high:.{digits}f}]"
            excluded = int(stats.loc[loss, (metric, "excluded")])
            if excluded:
                text += f" (-{excluded})"
            cells.append(text)
        out[_header(metric)] = cells
    if results["seed"].nunique() > 1 and "dice" in metrics:
        out["DC seed SD"] = [f"{v:.3f}" for v in stats[("dice", "seed_sd")]]
    order = stats[(metrics[0], "mean")].sort_values(
        ascending=not HIGHER_IS_BETTER.get(metrics[0], True)
    )
    return out.loc[order.index]


def cv_table(
    results: pd.DataFrame, metrics: Sequence[str] = ("dice", "precision", "lesion_f1")
) -> pd.DataFrame:
    """Table 2: coefficient of variation across cases (SD with ddof=1 over the mean) per loss.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 3, "seed": 0, "case_id": ["1", "2", "3"],
        ...     "dice": [0.2, 0.4, 0.6], "ref_empty": False})
        >>> cv_table(t, ["dice"]).loc["a"].tolist()
        ['0.500']
    """
    out = {}
    for metric in metrics:
        matrix = case_matrix(results, metric)
        out[f"CV {LABELS.get(metric, metric)}"] = {
            loss: f"{coefficient_of_variation(matrix[loss].to_numpy()):.3f}" for loss in matrix
        }
    return pd.DataFrame(out)


def paired_table(
    results: pd.DataFrame, baseline: str, metrics: Sequence[str] = ("dice", "hd95", "lesion_f1")
) -> pd.DataFrame:
    """Table 3: each loss against ``baseline``: median per-case difference and Holm-corrected
    Wilcoxon p-value per metric.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 6 + ["b"] * 6, "seed": 0, "ref_empty": False,
        ...     "case_id": [str(i) for i in range(6)] * 2,
        ...     "dice": list(range(6)) + list(range(1, 7))})
        >>> paired_table(t, "a", ["dice"]).loc["b"].tolist()
        ['+1.000', '0.031']
    """
    out = pd.DataFrame()
    for metric in metrics:
        frame = paired_tests(results, metric, baseline)
        label = LABELS.get(metric, metric)
        out[f"Δ{label} (median)"] = frame["median_diff"].map(lambda v: f"{v:+.3f}")
        out[f"p {label} (Holm)"] = frame["p_holm"].map(lambda v: f"{v:.3f}")
    return out


def rank_table(
    ranks: pd.Series, p: float, cd: float, metric: str = "dice"
) -> tuple[pd.DataFrame, str]:
    """Mean Friedman ranks (from :func:`lossbench.stats.friedman`, 1 = best) as a table, and a
    sentence with the test's p-value and the Nemenyi critical difference.

    Example:
        >>> frame, sentence = rank_table(pd.Series({"c": 1.0, "b": 2.0}), 0.01, 1.2)
        >>> frame.index.tolist(), sentence.endswith("1.20.")
        (['c', 'b'], True)
    """
    frame = pd.DataFrame({"mean rank": ranks.map(lambda v: f"{v:.2f}")})
    sentence = (
        f"Friedman test over {len(ranks)} losses on per-case {LABELS.get(metric, metric)}: "
        f"p = {p:.3g}; Nemenyi critical difference of mean ranks (alpha 0.05): {cd:.2f}."
    )
    return frame, sentence


def fp_table(results: pd.DataFrame) -> pd.DataFrame:
    """Table 4: false-positive lesions on the lesion-free test cases."""
    frame = false_positives(results)
    return pd.DataFrame({
        "lesion-free cases": frame["cases"].map(lambda v: f"{v:.0f}"),
        "FP lesions / case": frame["fp_lesions"].map(lambda v: f"{v:.2f}"),
        "FP volume (mm³) / case": frame["fp_volume_mm3"].map(lambda v: f"{v:.1f}"),
        "cases with any FP": frame["cases_with_fp"].map(lambda v: f"{v:.0%}"),
    })  # fmt: skip


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


def cost_table(results: pd.DataFrame, bench_ms: dict[str, float] | None = None) -> pd.DataFrame:
    """Table 5: training seconds per trial (mean over seeds) and, when given, the loss's
    forward + backward milliseconds from the benchmark suite."""
    seconds = results.groupby(["loss", "seed"])["train_seconds"].first().groupby("loss").mean()
    out = pd.DataFrame({"training (s / trial)": seconds.map(lambda v: f"{v:.1f}")})
    if bench_ms:
        out["forward + backward (ms)"] = [
            f"{bench_ms[n]:.2f}" if n in bench_ms else "" for n in out.index
        ]
    return out
