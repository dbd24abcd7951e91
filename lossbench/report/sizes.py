"""The report's detection by lesion size, from the per-lesion table (``lesions.parquet``):
lesion recall per reference-volume bin and false-positive lesions per predicted-volume bin
(:func:`lossbench.stats.sizes.detection_by_size`), as tables, a sentence on the smallest bin, a
figure and ``summary.json``'s ``size_recall``."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lossbench.report.figures import pyplot
from lossbench.report.html import Section
from lossbench.stats.sizes import bin_labels, detection_by_size

__all__ = ["size_curves", "size_sections", "size_summary", "sizes_of"]


def sizes_of(
    lesions: pd.DataFrame | None,
    results: pd.DataFrame,
    edges: Sequence[float],
    n_resamples: int,
    rename: Mapping[str, str],
) -> pd.DataFrame | None:
    """:func:`detection_by_size` of a folder's tables (``method`` and ``seed`` columns, the
    lesions' method as ``loss`` or ``method``), methods under their display names; None
    without a per-lesion table or without any reference lesion above the first edge."""
    if lesions is None or results.empty:
        return None
    lesions = lesions.rename(columns={"loss": "method"})
    sizes = detection_by_size(lesions, results, edges, n_resamples=n_resamples)
    if not sizes["ref_lesions"].gt(0).any():
        return None
    return sizes.rename(index=dict(rename), level="method")


def _cells(sizes: pd.DataFrame, column: str, digits: int) -> pd.DataFrame:
    """Methods x bins: ``column`` with its interval."""
    low, high = (f"{column}_low", f"{column}_high") if column == "recall" else ("fp_low", "fp_high")

    def cell(row: pd.Series) -> str:
        if not np.isfinite(row[column]):
            return "n/a"
        return f"{row[column]:.{digits}f} [{row[low]:.{digits}f}, {row[high]:.{digits}f}]"

    return sizes.apply(cell, axis=1).unstack("bin")[
        list(dict.fromkeys(sizes.index.get_level_values("bin")))
    ]


def _smallest(sizes: pd.DataFrame, many: str) -> str:
    """The sentence on the smallest bin: the methods with the best recall there (ties named
    together) and those whose paired interval says they find fewer."""
    first = sizes.index.get_level_values("bin")[0]
    rows = sizes.xs(first, level="bin")
    n = rows["ref_lesions"].max()
    if not n > 0:
        return f"The smallest bin ({first} mm³) holds no reference lesion."
    top = rows["recall"].max()
    best = list(rows.index[np.isclose(rows["recall"], top, rtol=0, atol=1e-12)])
    behind = list(rows.index[rows["behind_best"]])
    r = rows.loc[best[0]]
    verb = "finds" if len(best) == 1 else "find"
    text = (
        f"On the smallest lesions ({first} mm³, {n:g} reference lesions), {_listed(best)} "
        f"{verb} the most (recall {top:.2f} [{r['recall_low']:.2f}, {r['recall_high']:.2f}]"
        f"{'' if len(best) == 1 else ' for ' + best[0]}); "
    )
    if not behind:
        return text + f"no other of the {many} finds significantly fewer."
    others = len(rows) - len(best) - len(behind)
    return text + (
        f"{_listed(behind)} find{'s' if len(behind) == 1 else ''} fewer (the 95% paired "
        f"bootstrap interval of the difference from {best[0]} lies below 0), and the other "
        f"{others} do not differ from it."
    )


def _listed(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def size_sections(sizes: pd.DataFrame, words: tuple[str, str]) -> list[Section]:
    """The two sections: recall by reference volume, false positives by predicted volume."""
    one, many = words
    counts = sizes.groupby(level="bin", sort=False)["ref_lesions"].max()
    recall = _cells(sizes, "recall", 2)
    recall.columns = [f"{b} mm³ (n={counts[b]:g})" for b in recall.columns]
    recall.index.name = one
    false = _cells(sizes, "fp_per_case", 2)
    false.columns = [f"{b} mm³" for b in false.columns]
    false.index.name = one
    text = (
        "Lesion recall (anima's rule) of the reference lesions in each volume bin, pooled over "
        "the test cases (n: reference lesions, averaged over seeds), with 95% percentile "
        "bootstrap intervals over cases (and seeds within cases). "
    )
    fp_text = (
        "Predicted lesions that no reference lesion confirms, per test case (lesion-free "
        "cases included), by their own volume; 95% bootstrap intervals as above."
    )
    return [
        ("Detection by lesion size", text + _smallest(sizes, many), recall),
        ("False-positive lesions by size", fp_text, false),
    ]


def size_summary(sizes: pd.DataFrame) -> dict:
    """``summary.json``'s ``size_recall``: method -> bin -> recall, interval, reference lesions
    and false positives per case (null where undefined)."""
    out: dict = {}
    for (method, name), row in sizes.iterrows():
        values = {k: row[k] for k in ("recall", "recall_low", "recall_high", "ref_lesions")}
        values["fp_per_case"] = row["fp_per_case"]
        clean = {k: (round(float(v), 6) if np.isfinite(v) else None) for k, v in values.items()}
        out.setdefault(method, {})[name] = clean
    return out


def size_curves(sizes: pd.DataFrame, edges: Sequence[float], path: str | Path) -> Path:
    """Lesion recall against reference volume (log axis), one line per method, each bin at its
    geometric centre (the last one a bin's width past its edge).

    Example:
        >>> import tempfile
        >>> index = pd.MultiIndex.from_product([["a"], ["3-10", ">10"]], names=["method", "bin"])
        >>> sizes = pd.DataFrame({"recall": [0.2, 0.9]}, index=index)
        >>> size_curves(sizes, [3, 10], tempfile.mkdtemp() + "/s.png").suffix
        '.png'
    """
    e = np.asarray(edges, float)
    last = e[-1] * (e[-1] / e[-2] if len(e) > 1 and e[-2] > 0 else 3.0)
    centres = [np.sqrt(max(a, b / 10) * b) for a, b in itertools.pairwise(e)] + [last]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    colours = plt.get_cmap("tab20").colors
    for k, (method, rows) in enumerate(sizes.groupby(level="method", sort=False)):
        style = {"color": colours[k % 20], "linestyle": ("-", "--", ":")[k // 20 % 3]}
        ax.plot(centres, rows["recall"].to_numpy(), marker="o", linewidth=1, label=method, **style)
    ax.set_xscale("log")
    ax.set_xticks(centres, bin_labels(edges))
    ax.minorticks_off()
    ax.set(xlabel="reference lesion volume (mm³)", ylabel="lesion recall", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    methods = sizes.index.get_level_values("method").nunique()
    ax.legend(fontsize=6, ncol=1 + methods // 30, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
