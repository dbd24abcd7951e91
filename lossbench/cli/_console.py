"""What the commands that produce a results table print about it: its size, its means, the
report and the time each phase took."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

__all__ = ["print_means", "print_run", "reporting", "size_bins"]


def print_means(table: pd.DataFrame, policy: str, file: TextIO | None = None) -> None:
    """The means of a results table (a run's, or ``lossbench score``'s) over the cases with
    lesions, missing distances as the report's ``policy`` counts them."""
    from lossbench.stats import overview

    unit = "method" if "method" in table.columns else "loss"
    lesion = table[~table["ref_empty"].astype(bool)]
    if not len(lesion):
        return
    print(
        f"means over the {lesion['case_id'].nunique()} cases with lesions (missing distances: "
        f"{policy}, as in the report):",
        file=file,
    )
    print(overview(table, policy).rename_axis(unit).round(3).to_string(), file=file)


@contextmanager
def reporting() -> Iterator[None]:
    """Around a library call that writes a run's report: a report that cannot be written is
    said on stdout (``no report: why``), as the results table is written all the same."""
    from lossbench.run import ReportSkipped

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ReportSkipped)
        yield
    for warning in caught:
        if issubclass(warning.category, ReportSkipped):
            print(f"no report: {warning.message}")
        else:
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def print_run(table_path: Path, suffix: str = "", lead: str = "") -> None:
    """Print the row count (between ``lead`` and ``suffix``) and the means of a run's results
    table, a caution for a single seed, its report's files and the wall time by phase."""
    from lossbench.config import from_toml
    from lossbench.layout import ReportLayout, RunLayout
    from lossbench.results import load

    layout = RunLayout(table_path.parent)
    table = load(layout.root)
    print(f"{lead}{len(table)} rows in {table_path}{suffix}")
    config = from_toml(layout.config)
    print_means(table, config.report.nan_policy)
    if len(config.seeds) == 1:
        print(
            "one seed cannot rank losses: seed-to-seed spread is as large as the gaps between "
            "them; use --preset standard (3 seeds) for conclusions"
        )
    report = ReportLayout(layout.root)
    if report.markdown.exists():
        print(f"report: {report.markdown} and {report.html}")
    if layout.timing.exists():
        timing: dict[str, Any] = json.loads(layout.timing.read_text())
        print("wall time by phase: " + ", ".join(f"{k} {v:.0f} s" for k, v in timing.items()))


def size_bins(text: str | None) -> list[float] | None:
    """The ``--size-bins`` argument: comma-separated volume edges (mm^3), checked (None when
    the flag is not given).

    Raises:
        ValueError: the edges are not increasing numbers from 0, named.

    Example:
        >>> size_bins("3,10,30")
        [3.0, 10.0, 30.0]
        >>> size_bins("10,3")
        Traceback (most recent call last):
        ...
        ValueError: --size-bins: size bins must be increasing ... got [10.0, 3.0] (e.g. ...)
    """
    from lossbench.stats.sizes import check_edges

    if text is None:
        return None
    try:
        return check_edges([float(v) for v in text.split(",")])
    except ValueError as exc:
        if "size bins" not in str(exc):  # a value that is no number
            exc = ValueError(f"size bins must be numbers, got {text!r}")
        raise ValueError(f"--size-bins: {exc} (e.g. 3,10,30,100,300)") from None
