"""Why a loss wins, the report's diagnostics: detection by lesion size
(:mod:`lossbench.report.sizes`) and calibration (:mod:`lossbench.report.calibration`), each
present where the folder holds its table (a run made before lossbench wrote them has neither;
scored masks have no calibration)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lossbench.report.calibration import (
    calibration_of,
    calibration_section,
    calibration_summary,
    confident,
    reliability_diagrams,
)
from lossbench.report.html import Section
from lossbench.report.sizes import size_curves, size_sections, size_summary, sizes_of
from lossbench.results import load_rows

__all__ = ["Diagnostics", "diagnostics"]

Figure = tuple[str, str, Callable[[Path], Path], str]
"""(title, file name, the function writing it to a path, caption)."""


@dataclass
class Diagnostics:
    """The diagnostics' sections, ``summary.json`` entries and figures."""

    sections: list[Section] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)


def diagnostics(
    root: Path,
    results: pd.DataFrame,
    rename: Mapping[str, str],
    words: tuple[str, str],
    edges: Sequence[float],
    n_resamples: int,
) -> Diagnostics:
    """The diagnostics of a run's or a score's folder ``root``, its results table (``method``
    column) and display names ``rename``.

    Example:
        >>> import tempfile
        >>> diagnostics(Path(tempfile.mkdtemp()), pd.DataFrame(), {}, ("loss", "losses"),
        ...             [3, 10], 100).sections
        []
    """
    out = Diagnostics()
    lesions = load_rows(root, "lesions")
    if "seed" not in results:  # scored predictions have one "seed"
        results = results.assign(seed=0)
    if lesions is not None and "seed" not in lesions:
        lesions = lesions.assign(seed=0)
    sizes = sizes_of(lesions, results, edges, n_resamples, rename)
    if sizes is not None:
        out.sections += size_sections(sizes, words)
        out.summary["size_recall"] = size_summary(sizes)
        caption = (
            f"Lesion recall per reference-volume bin, one line per {words[0]}; the intervals "
            "are in the table."
        )
        out.figures.append(
            ("Recall by lesion size", "sizes", lambda p: size_curves(sizes, edges, p), caption)
        )
    table = calibration_of(results, n_resamples) if not results.empty else None
    if table is not None:
        table = table.rename(index=dict(rename))
        bins = load_rows(root, "reliability")
        if bins is not None:
            table = table.join(confident(bins, rename))
        out.sections.append(calibration_section(table, words))
        out.summary["calibration"] = calibration_summary(table)
        if bins is not None:
            order, names = list(table.index), dict(rename)
            caption = (
                "Reliability diagrams, pooled over the test cases and seeds, sorted by ECE: the "
                "lesion share of each probability bin against its mean probability (dashed: "
                "perfect calibration; grey bars: the bin's share of voxels, log scale)."
            )
            draw = lambda p: reliability_diagrams(bins, order, names, p)  # noqa: E731
            out.figures.append(("Reliability", "reliability", draw, caption))
    return out
