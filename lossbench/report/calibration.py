"""The report's calibration: each method's expected calibration error and Brier score over the
test cases (the results table's ``ece`` and ``brier``, inside the brain mask), and its
reliability diagram pooled over cases and seeds (``reliability.csv``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from lossbench.metrics.calibration import RELIABILITY_BINS
from lossbench.report.figures import pyplot
from lossbench.report.html import Section
from lossbench.stats.estimators import bootstrap_ci

__all__ = [
    "calibration_of",
    "calibration_section",
    "calibration_summary",
    "confident",
    "reliability_diagrams",
]

_COLUMNS = ("ece", "brier")


def calibration_of(results: pd.DataFrame, n_resamples: int) -> pd.DataFrame | None:
    """Per method (sorted by ECE) of a results table (``method``, ``seed``, ``case_id``): the
    mean ``ece`` and ``brier`` over all test cases (each case's value first averaged over
    seeds) with 95% bootstrap intervals over cases and seeds; None for a table without them
    (scored masks have no probabilities).

    Example:
        >>> r = pd.DataFrame({"method": ["a", "a", "b", "b"], "seed": 0, "case_id": ["1", "2"] * 2,
        ...     "ece": [0.1, 0.3, 0.0, 0.1], "brier": [0.2, 0.2, 0.1, 0.1]})
        >>> calibration_of(r, 100)[["ece", "brier"]].round(3).to_dict("index")
        {'b': {'ece': 0.05, 'brier': 0.1}, 'a': {'ece': 0.2, 'brier': 0.2}}
    """
    if not set(_COLUMNS) <= set(results.columns) or results["ece"].isna().all():
        return None
    rows = {}
    for method, frame in results.groupby("method", sort=False):
        row = {}
        for column in _COLUMNS:
            matrix = frame.pivot_table(index="case_id", columns="seed", values=column)
            row[column] = float(np.nanmean(matrix.mean(axis=1)))
            low, high = bootstrap_ci(matrix.to_numpy(), n_resamples=n_resamples)
            row[f"{column}_low"], row[f"{column}_high"] = low, high
        rows[method] = row
    return pd.DataFrame.from_dict(rows, orient="index").sort_values("ece")


CONFIDENT_BIN = -(-RELIABILITY_BINS // 2)
"""The first bin whose lower edge is at least 0.5 (8 of 15: p >= 8/15 = 0.533)."""


def confident(reliability: pd.DataFrame, rename: Mapping[str, str]) -> pd.DataFrame:
    """Per method (display names), pooled over cases and seeds, the voxels predicted with
    ``p >= CONFIDENT_BIN / RELIABILITY_BINS``: their mean probability (``confident_p``) and the
    share of them that is lesion (``confident_share``); NaN for a method with none.

    Example:
        >>> bins = pd.DataFrame({"loss": "a", "bin": [0, 14], "count": [90, 10],
        ...     "prob_sum": [0.9, 9.5], "lesion_sum": [1, 4]})
        >>> confident(bins, {}).round(2).to_dict("index")
        {'a': {'confident_p': 0.95, 'confident_share': 0.4}}
    """
    bins = reliability.rename(columns={"loss": "method"})
    high = bins[bins["bin"] >= CONFIDENT_BIN]
    sums = high.groupby("method")[["count", "prob_sum", "lesion_sum"]].sum()
    sums = sums.reindex(bins["method"].unique())
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                "confident_p": sums["prob_sum"] / sums["count"],
                "confident_share": sums["lesion_sum"] / sums["count"],
            }
        )
    return out.rename(index=dict(rename))


def calibration_section(table: pd.DataFrame, words: tuple[str, str]) -> Section:
    """The "Calibration" section: the table, sorted by ECE, and a sentence on its ends."""
    one, many = words
    shown = pd.DataFrame(
        {
            f"{name} ↓": [
                f"{r[c]:.4f} [{r[f'{c}_low']:.4f}, {r[f'{c}_high']:.4f}]"
                for _, r in table.iterrows()
            ]
            for c, name in (("ece", "ECE"), ("brier", "Brier"))
        },
        index=table.index,
    )
    shown.index.name = one
    edge = CONFIDENT_BIN / RELIABILITY_BINS
    if "confident_p" in table:
        shown[f"p ≥ {edge:.2f}: mean p → lesion share"] = [
            f"{r['confident_p']:.2f} → {r['confident_share']:.2f}" for _, r in table.iterrows()
        ]
    best, worst = table.index[0], table.index[-1]
    by_brier = table["brier"].idxmin()
    text = (
        f"Calibration of the probability maps before the threshold, inside the brain mask: the "
        f"expected calibration error over {RELIABILITY_BINS} equal-width bins and the Brier "
        "score, each a mean over all test cases (lesion-free ones included) with its 95% "
        f"bootstrap interval; lower is better. Best calibrated of the {many}: {best} (ECE "
        f"{table.loc[best, 'ece']:.4f}); least: {worst} ({table.loc[worst, 'ece']:.4f}). "
        f"Lowest Brier score: {by_brier}. Both are dominated by the many voxels far from any "
        "lesion; the reliability diagrams show each probability bin."
    )
    if "confident_p" in table and table["confident_share"].notna().any():
        gap = (table["confident_p"] - table["confident_share"]).dropna()
        most, least = gap.idxmax(), gap.idxmin()
        text += (
            f" Where the threshold decides (p ≥ {edge:.2f}, pooled over cases and seeds), "
            f"the most over-confident is {most} (mean p {table.loc[most, 'confident_p']:.2f}, "
            f"lesion share {table.loc[most, 'confident_share']:.2f}), the least {least} "
            f"({table.loc[least, 'confident_p']:.2f}, {table.loc[least, 'confident_share']:.2f})."
        )
    return ("Calibration", text, shown)


def calibration_summary(table: pd.DataFrame) -> dict:
    """``summary.json``'s ``calibration``: method -> ECE and Brier with their intervals."""
    return {
        str(method): {k: round(float(v), 6) for k, v in row.items() if np.isfinite(v)}
        for method, row in table.iterrows()
    }


def reliability_diagrams(
    reliability: pd.DataFrame, order: list[str], rename: Mapping[str, str], path: str | Path
) -> Path:
    """Small multiples, one reliability diagram per method in ``order``: the lesion share of
    each probability bin against its mean probability, pooled over cases and seeds, the
    diagonal for perfect calibration, and each bin's share of the voxels (grey, log scale).

    Example:
        >>> import tempfile
        >>> bins = pd.DataFrame({"loss": "a", "bin": [0, 14], "count": [90, 10],
        ...     "prob_sum": [0.9, 9.5], "lesion_sum": [1, 9]})
        >>> reliability_diagrams(bins, ["a"], {}, tempfile.mkdtemp() + "/r.png").suffix
        '.png'
    """
    bins = reliability.rename(columns={"loss": "method"})
    bins = bins.assign(method=bins["method"].replace(dict(rename)))
    pooled = bins.groupby(["method", "bin"])[["count", "prob_sum", "lesion_sum"]].sum()
    cols = min(len(order), 6)
    rows = -(-len(order) // cols)
    plt = pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.ravel()[len(order) :]:
        ax.axis("off")
    for ax, method in zip(axes.ravel(), order, strict=False):
        data = pooled.loc[method]
        filled = data[data["count"] > 0]
        ax.plot([0, 1], [0, 1], color="0.6", linewidth=0.8, linestyle="--")
        mean_p = filled["prob_sum"] / filled["count"]
        ax.plot(mean_p, filled["lesion_sum"] / filled["count"], marker="o", markersize=3)
        share = ax.twinx()
        share.bar(mean_p, filled["count"] / filled["count"].sum(), width=0.05, color="0.85")
        share.set_yscale("log")
        share.tick_params(which="both", right=False, labelright=False)
        ax.set_zorder(share.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.set(xlim=(0, 1), ylim=(0, 1), title=method)
        ax.title.set_fontsize(8)
        ax.tick_params(labelsize=6)
    fig.supxlabel("mean predicted probability", fontsize=9)
    fig.supylabel("lesion share", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
