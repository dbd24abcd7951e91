"""A PNG montage of a case: axial slices of baseline, follow-up, difference and label."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["save_preview"]


def save_preview(
    baseline: np.ndarray,
    followup: np.ndarray,
    label: np.ndarray,
    path: str | Path,
    title: str = "",
    slices: int = 3,
) -> Path:
    """Save axial slices (last array axis) through the largest lesions, or the middle of the
    volume when there is none: one row per slice, columns baseline, follow-up, follow-up minus
    baseline (each scan divided by its 99.5th percentile first), and the follow-up with the label
    outlined in red.

    Args:
        baseline, followup: 3D volumes (x, y, z).
        label: 3D new-lesion mask.
        path: PNG file to write.
        title: figure title (e.g. the case id).
        slices: number of rows.

    Returns:
        The path written.

    Example:
        >>> import tempfile
        >>> from lossbench.data.synthetic import generate_case
        >>> c = generate_case(2, shape=(32, 40, 32))
        >>> save_preview(c.baseline, c.followup, c.label, tempfile.mkdtemp() + "/p.png").suffix
        '.png'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = _slices(label, slices)
    # each scan in its own window (scanners differ in scale); the difference of the windowed
    # scans is what survives per-scan normalisation
    baseline = baseline / (float(np.percentile(baseline, 99.5)) or 1.0)
    followup = followup / (float(np.percentile(followup, 99.5)) or 1.0)
    fig, axes = plt.subplots(len(chosen), 4, figsize=(10, 2.7 * len(chosen)), squeeze=False)
    _draw(axes, chosen, baseline, followup, label)
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def _slices(label: np.ndarray, slices: int) -> list[int]:
    """The axial slices to show, increasing: through the largest lesions (distinct ones rather
    than neighbouring slices of one), then the middle of the volume and 8 slices either side."""
    per_slice = label.reshape(-1, label.shape[-1]).sum(0)
    ranked = [int(z) for z in np.argsort(per_slice)[::-1] if per_slice[z] > 0]
    chosen: list[int] = []
    for z in ranked:  # distinct lesions rather than neighbouring slices of one
        if all(abs(z - c) > 3 for c in chosen):
            chosen.append(z)
    middle = label.shape[-1] // 2
    return sorted([*chosen, middle - 8, middle, middle + 8][:slices])


def _draw(
    axes: np.ndarray,
    chosen: list[int],
    baseline: np.ndarray,
    followup: np.ndarray,
    label: np.ndarray,
) -> None:
    """Fill the rows of ``axes`` (one per slice of ``chosen``) with the windowed scans, their
    difference and the outlined label."""
    vmax = 1.0
    diff = followup - baseline
    dmax = float(np.percentile(np.abs(diff), 99.9)) or 1.0
    for row, z in zip(axes, chosen, strict=True):
        gray = ("gray", 0.0, vmax)
        views = [
            (baseline, *gray),
            (followup, *gray),
            (diff, "coolwarm", -dmax, dmax),
            (followup, *gray),
        ]
        for ax, (vol, cmap, lo, hi) in zip(row, views, strict=True):
            ax.imshow(vol[:, :, z].T, cmap=cmap, vmin=lo, vmax=hi, origin="lower")
            ax.set_xticks([])
            ax.set_yticks([])
        if label[:, :, z].any():
            row[3].contour(label[:, :, z].T, levels=[0.5], colors="red", linewidths=0.8)
        row[0].set_ylabel(f"z = {z}")
    for ax, name in zip(
        axes[0], ["baseline", "follow-up", "follow-up - baseline", "label"], strict=True
    ):
        ax.set_title(name)
