"""The report's figures (matplotlib, PNG). Each function takes precomputed data and a path."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lossbench.report.tables import LABELS
from lossbench.stats import case_matrix

__all__ = ["boxplots", "critical_difference", "qualitative", "training_curves"]


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def boxplots(
    results: pd.DataFrame,
    path: str | Path,
    metrics: Sequence[str] = ("dice", "precision", "lesion_f1", "hd95"),
) -> Path:
    """Boxplots with the per-case points of each metric per loss (cases with lesions, seeds
    averaged), losses ordered by median Dice.

    Example:
        >>> import tempfile
        >>> t = pd.DataFrame({"loss": ["a", "a", "b", "b"], "seed": 0, "case_id": ["1", "2"] * 2,
        ...     "dice": [0.5, 0.7, 0.8, 0.9], "ref_empty": False})
        >>> boxplots(t, tempfile.mkdtemp() + "/b.png", ["dice"]).suffix
        '.png'
    """
    plt = _plt()
    order = case_matrix(results, "dice").median().sort_values(ascending=False).index.tolist()
    fig, axes = plt.subplots(
        len(metrics), 1, figsize=(max(6, 0.55 * len(order) + 2), 2.6 * len(metrics)), squeeze=False
    )
    rng = np.random.default_rng(0)
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        matrix = case_matrix(results, metric)[order]
        data = [matrix[c].dropna().to_numpy() for c in order]
        ax.boxplot(data, showfliers=False, widths=0.6)
        for i, values in enumerate(data, start=1):
            ax.scatter(
                i + rng.uniform(-0.15, 0.15, len(values)), values, s=8, alpha=0.6, color="tab:blue"
            )
        ax.set_ylabel(LABELS.get(metric, metric))
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
    plt = _plt()
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
    plt = _plt()
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


def critical_difference(ranks: pd.Series, cd: float, path: str | Path, title: str = "") -> Path:
    """Critical-difference plot: each loss at its mean rank (1 = best, left) and a bar of the
    Nemenyi critical difference; losses whose ranks differ by less than it cannot be told apart.

    Example:
        >>> import tempfile
        >>> ranks = pd.Series({"a": 1.2, "b": 2.0, "c": 2.8})
        >>> critical_difference(ranks, 1.1, tempfile.mkdtemp() + "/cd.png").suffix
        '.png'
    """
    plt = _plt()
    ranks = ranks.sort_values()
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(ranks) + 1.4))
    y = np.arange(len(ranks))[::-1]
    ax.scatter(ranks.to_numpy(), y, color="tab:blue", zorder=3)
    for value, row, name in zip(ranks.to_numpy(), y, ranks.index, strict=True):
        ax.text(value + 0.08, row, name, va="center", fontsize=8)
    best = float(ranks.iloc[0])
    ax.axvspan(
        best, best + cd, color="tab:orange", alpha=0.15, label=f"within CD = {cd:.2f} of the best"
    )
    ax.set_yticks([])
    ax.set_xlabel("mean rank (1 = best)")
    ax.set_xlim(0.5, max(float(ranks.max()), best + cd) + 2.5)
    ax.set_ylim(-1, len(ranks))
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
