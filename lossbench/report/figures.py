"""The report's figures (matplotlib, PNG). Each function takes precomputed data and a path."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lossbench.metrics.facts import facts

__all__ = [
    "boxplots",
    "critical_difference",
    "gradient_curves",
    "pyplot",
    "qualitative",
    "rank_stability",
    "sweep_heatmaps",
    "training_curves",
]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def boxplots(matrices: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """Boxplots with the per-case points of each metric per method, from ``matrices`` (metric
    -> cases x methods, e.g. :meth:`lossbench.stats.Scores.matrix`), methods ordered by median
    value of the first metric (by its direction).

    Example:
        >>> import tempfile
        >>> m = pd.DataFrame({"a": [0.5, 0.7], "b": [0.8, 0.9]}, index=["1", "2"])
        >>> boxplots({"dice": m}, tempfile.mkdtemp() + "/b.png").suffix
        '.png'
    """
    plt = pyplot()
    first = next(iter(matrices))
    medians = matrices[first].median()
    order = medians.sort_values(
        ascending=not facts(first).higher_is_better, kind="stable"
    ).index.tolist()
    rows = len(matrices)
    fig, axes = plt.subplots(
        rows, 1, figsize=(max(6, 0.55 * len(order) + 2), 2.6 * rows), squeeze=False
    )
    rng = np.random.default_rng(0)
    for ax, (metric, matrix) in zip(axes[:, 0], matrices.items(), strict=True):
        data = [matrix[c].dropna().to_numpy() for c in order]
        ax.boxplot(data, showfliers=False, widths=0.6)
        for i, values in enumerate(data, start=1):
            ax.scatter(
                i + rng.uniform(-0.15, 0.15, len(values)), values, s=8, alpha=0.6, color="tab:blue"
            )
        ax.set_ylabel(facts(metric).label)
        ax.set_xticks(range(1, len(order) + 1), order, rotation=40, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def training_curves(histories: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Training loss against iteration per loss (moving average of 10 iterations), each curve
    divided by its first value so that losses of different scales share one axis.

    Example:
        >>> import tempfile
        >>> h = {"a": pd.DataFrame({"iteration": [1, 2, 3], "loss": [1.0, 0.8, 0.5]})}
        >>> training_curves(h, tempfile.mkdtemp() + "/c.png").suffix
        '.png'
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, history in sorted(histories.items()):
        smooth = history["loss"].rolling(10, min_periods=1).mean()
        ax.plot(history["iteration"], smooth / (smooth.iloc[0] or 1.0), label=name, linewidth=1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss / its first value")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def qualitative(
    baseline: np.ndarray,
    followup: np.ndarray,
    reference: np.ndarray,
    predictions: dict[str, np.ndarray],
    path: str | Path,
    title: str = "",
) -> Path:
    """One axial slice through the reference's largest lesion: baseline, follow-up, reference,
    then each prediction with true positives green, false positives red, false negatives blue.

    Example:
        >>> import tempfile
        >>> ref = np.zeros((8, 8, 4), bool); ref[2:4, 2:4, 1] = True
        >>> img = np.random.default_rng(0).random((8, 8, 4))
        >>> qualitative(img, img, ref, {"dice": ref}, tempfile.mkdtemp() + "/q.png").suffix
        '.png'
    """
    plt = pyplot()
    z = int(np.argmax(reference.reshape(-1, reference.shape[-1]).sum(0)))
    panels = [("baseline", baseline), ("follow-up", followup), ("reference", followup)]
    fig, axes = plt.subplots(1, 3 + len(predictions), figsize=(2.6 * (3 + len(predictions)), 3.0))
    window = float(np.percentile(followup, 99.5)) or 1.0
    for ax, (name, volume) in zip(axes[:3], panels, strict=True):
        ax.imshow(volume[:, :, z].T, cmap="gray", vmin=0, vmax=window, origin="lower")
        ax.set_title(name, fontsize=9)
    axes[2].contour(reference[:, :, z].T, levels=[0.5], colors="yellow", linewidths=0.8)
    for ax, (name, pred) in zip(axes[3:], predictions.items(), strict=True):
        ref, hit = reference[:, :, z], pred[:, :, z].astype(bool)
        overlay = np.zeros((*ref.shape, 4))
        overlay[hit & ref] = (0.1, 0.8, 0.1, 0.8)
        overlay[hit & ~ref] = (0.9, 0.1, 0.1, 0.8)
        overlay[~hit & ref] = (0.1, 0.3, 1.0, 0.8)
        ax.imshow(followup[:, :, z].T, cmap="gray", vmin=0, vmax=window, origin="lower")
        ax.imshow(overlay.transpose(1, 0, 2), origin="lower")
        ax.set_title(name, fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{title} (slice z = {z}; green TP, red FP, blue FN)", fontsize=9)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def critical_difference(
    panels: dict[str, tuple[pd.Series, list[list[str]]]], path: str | Path, many: str = "losses"
) -> Path:
    """Critical-difference diagrams, one panel per metric: each loss at its mean Friedman rank
    (1 = best, left; best loss on top), and a vertical bar on the right joining each group of
    losses that are not significantly different in the pairwise tests
    (:func:`lossbench.stats.critical_difference_groups`).

    Args:
        panels: panel title -> (mean ranks per loss, groups of loss names).

    Example:
        >>> import tempfile
        >>> ranks = pd.Series({"a": 1.2, "b": 2.0, "c": 2.8})
        >>> path = tempfile.mkdtemp() + "/cd.png"
        >>> critical_difference({"DC": (ranks, [["a", "b"]])}, path).suffix
        '.png'
    """
    plt = pyplot()
    k = max(len(ranks) for ranks, _ in panels.values())
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.6 * len(panels), 0.3 * k + 1.6), squeeze=False
    )
    for ax, (title, (ranks, groups)) in zip(axes[0], panels.items(), strict=True):
        ranks = ranks.sort_values(kind="stable")
        y = np.arange(len(ranks))[::-1]
        row = dict(zip(ranks.index, y, strict=True))
        ax.scatter(ranks.to_numpy(), y, color="tab:blue", zorder=3, s=14)
        ax.set_yticks(y, ranks.index.tolist(), fontsize=7)
        for i, group in enumerate(groups):
            x = len(ranks) + 0.7 + 0.35 * i
            rows = [row[name] for name in group]
            ax.plot([x, x], [min(rows) - 0.25, max(rows) + 0.25], color="tab:orange", lw=3)
            for name in group:
                ax.plot(
                    [float(ranks[name]), x], [row[name]] * 2, color="tab:orange", lw=0.4, alpha=0.5
                )
        ax.set_xlim(0.5, len(ranks) + 1.0 + 0.35 * len(groups))
        ax.set_ylim(-0.8, len(ranks) - 0.2)
        ax.set_xlabel("mean rank (1 = best)")
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(
        f"orange bars join {many} that are not significantly different "
        "(pairwise Wilcoxon signed-rank, Holm over all pairs, 0.05)",
        fontsize=8,
    )
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def rank_stability(probabilities: pd.DataFrame, path: str | Path) -> Path:
    """How often each loss ranks first over bootstrap resamples, one panel per metric.

    Args:
        probabilities: losses x metric labels, values in [0, 1]; rows are drawn top to bottom
            in the frame's order.

    Example:
        >>> import tempfile
        >>> p = pd.DataFrame({"DC": [0.7, 0.3]}, index=["a", "b"])
        >>> rank_stability(p, tempfile.mkdtemp() + "/r.png").suffix
        '.png'
    """
    plt = pyplot()
    k = len(probabilities)
    fig, axes = plt.subplots(
        1,
        probabilities.shape[1],
        figsize=(3.4 * probabilities.shape[1] + 1, 0.28 * k + 1.4),
        squeeze=False,
        sharey=True,
    )
    y = np.arange(k)[::-1]
    for ax, column in zip(axes[0], probabilities.columns, strict=True):
        values = probabilities[column].to_numpy(dtype=float)
        ax.barh(y, values, color="tab:blue", alpha=0.8)
        for value, row in zip(values, y, strict=True):
            if value > 0:
                text = f"{value:.0%}" if value >= 0.005 else "<1%"
                ax.text(min(value + 0.02, 0.9), row, text, va="center", fontsize=6)
        ax.set_xlim(0, 1)
        ax.set_title(f"P(ranked first), {column}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0, 0].set_yticks(y, probabilities.index.tolist(), fontsize=7)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _by_value(values: Any) -> list[str]:
    """Distinct values in numeric order when they are numbers, else as they come."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return distinct


def _heatmap(ax: Any, cells: pd.DataFrame, fact: Any, rows: str, cols: str) -> None:
    """One heatmap of :func:`sweep_heatmaps` on ``ax``."""
    row_values, col_values = _by_value(cells["row"]), _by_value(cells["col"])
    grid = np.full((len(row_values), len(col_values)), np.nan)
    for cell in cells.itertuples():
        grid[row_values.index(cell.row), col_values.index(cell.col)] = cell.mean
    image = ax.imshow(grid, cmap="viridis" if fact.higher_is_better else "viridis_r", aspect="auto")
    for cell in cells.itertuples():
        r, c = row_values.index(cell.row), col_values.index(cell.col)
        red, green, blue, _ = image.cmap(image.norm(cell.mean))
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5  # light text on dark cells
        mark = " ★" if cell.best else " ≈" if cell.not_worse else ""
        interval = f"[{fact.format(cell.low)}, {fact.format(cell.high)}]"
        text = f"{fact.format(cell.mean)}{mark}\n{interval}"
        ax.text(
            c, r, text, ha="center", va="center", fontsize=7, color="white" if dark else "black"
        )
    ax.set_yticks(range(len(row_values)), row_values)
    ax.set_xticks(range(len(col_values)), col_values)
    ax.set_ylabel(rows)
    ax.set_xlabel(cols)
    direction = "higher" if fact.higher_is_better else "lower"
    ax.set_title(f"{fact.label} ({direction} is better)")


def sweep_heatmaps(panels: Mapping[tuple[str, str, str], pd.DataFrame], path: str | Path) -> Path:
    """Small multiples of heatmaps of a sweep: one row per metric, one column per pair of swept
    parameters, each cell the mean of the best variant there with its 95% interval; ★ marks the
    best, ≈ a variant not significantly worse than it.

    Args:
        panels: ``(metric, row parameter, column parameter or "")`` -> cells with columns
            ``row, col, mean, low, high, not_worse, best`` (see
            :func:`lossbench.report.sensitivity.heatmap_panels`).
        path: the PNG to write.

    Example:
        >>> import tempfile
        >>> cells = pd.DataFrame({"row": ["0.5", "0.9"], "col": ["", ""], "mean": [0.4, 0.5],
        ...     "low": [0.3, 0.4], "high": [0.5, 0.6], "not_worse": [False, True],
        ...     "best": [False, True]})
        >>> sweep_heatmaps({("dice", "beta", ""): cells}, tempfile.mkdtemp() + "/h.png").suffix
        '.png'
    """
    plt = pyplot()
    metrics = list(dict.fromkeys(key[0] for key in panels))
    pairs = list(dict.fromkeys(key[1:] for key in panels))
    fig, axes = plt.subplots(
        len(metrics), len(pairs), figsize=(4.4 * len(pairs), 3.6 * len(metrics)), squeeze=False
    )
    for i, metric in enumerate(metrics):
        for j, (rows, cols) in enumerate(pairs):
            _heatmap(axes[i][j], panels[(metric, rows, cols)], facts(metric), rows, cols)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def gradient_curves(
    probed: Mapping[str, pd.DataFrame], labels: Mapping[str, str], path: str | Path
) -> Path:
    """Small multiples of each gradient share over training, one line per loss (a moving
    average of 3 probes), in percent.

    Args:
        probed: loss -> its probed steps (``iteration`` and one column per share; see
            :func:`lossbench.report.gradients.probed_histories`).
        labels: share column -> what it measures, in the order of the panels.
        path: the PNG to write.

    Example:
        >>> import tempfile
        >>> h = pd.DataFrame({"iteration": [1, 11], "grad_lesion": [0.2, 0.4]})
        >>> labels = {"grad_lesion": "on lesion voxels"}
        >>> gradient_curves({"a": h}, labels, tempfile.mkdtemp() + "/g.png").suffix
        '.png'
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, len(labels), figsize=(4 * len(labels), 4.2), squeeze=False)
    for ax, (column, label) in zip(axes[0], labels.items(), strict=True):
        for name, history in probed.items():
            values = history[column].astype(float).rolling(3, min_periods=1).mean()
            ax.plot(history["iteration"], 100 * values, label=name, linewidth=1)
        ax.set_title(f"% {label}", fontsize=10)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
