"""What the report reads from a run folder: its results table, checked, and its configuration."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from lossbench.config import Config, from_toml
from lossbench.layout import RunLayout
from lossbench.report.tables import EXTENDED_METRICS, MAIN_METRICS
from lossbench.results import load

__all__ = ["REQUIRED_COLUMNS", "check_names", "load_checked", "read_config"]

REQUIRED_COLUMNS = (
    "loss",
    "seed",
    "case_id",
    *MAIN_METRICS,
    *EXTENDED_METRICS,
    "ref_empty",
    "n_fp_lesions",
    "fp_volume_mm3",
    "train_seconds",
)
"""Columns the report needs of a run's table (``diagonal_mm`` and ``pred_empty`` are used when
present). A table of ``lossbench score`` has ``method`` for ``loss`` and neither ``seed`` nor
``train_seconds``."""


def load_checked(run_dir: str | Path) -> tuple[pd.DataFrame, str]:
    """The results table of ``run_dir`` with the compared column named ``method`` (a run's
    ``loss``, renamed) and ``case_id`` as strings, and what it compares: ``"loss"`` (a run) or
    ``"method"`` (``lossbench score``, whose table gets one seed, 0).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> pd.DataFrame({"method": ["a"], "case_id": ["1"]}).to_csv(folder / "results.csv")
        >>> load_checked(folder)
        Traceback (most recent call last):
        ...
        ValueError: ...results.csv: missing column(s) dice, jaccard, ...

    Raises:
        FileNotFoundError: the folder holds no results table.
        ValueError: a required column is missing, or the table has no rows (file named).
    """
    layout = RunLayout(Path(run_dir))
    results = load(layout.root)
    source = layout.results_parquet if layout.results_parquet.exists() else layout.results_csv
    required = list(REQUIRED_COLUMNS)
    unit = "method" if "method" in results.columns and "loss" not in results.columns else "loss"
    if unit == "method":
        required[0] = "method"
        required.remove("train_seconds")
        if "seed" not in results.columns:
            results.insert(1, "seed", 0)
    missing = [c for c in required if c not in results.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}")
    if results.empty:
        raise ValueError(f"{source}: the results table has no rows")
    results = results.rename(columns={"loss": "method"})
    checked = results.assign(
        case_id=results["case_id"].astype(str), method=results["method"].astype(str)
    )
    return checked, unit


def read_config(run_dir: str | Path) -> Config | None:
    """The configuration stored in a run folder's ``config.toml``, or ``None`` without one.

    Example:
        >>> import tempfile
        >>> read_config(tempfile.mkdtemp()) is None
        True
    """
    path = RunLayout(Path(run_dir)).config
    return from_toml(path) if path.exists() else None


def check_names(
    root: Path, results: pd.DataFrame, unit: str, baseline: str | None, show: Sequence[str]
) -> None:
    """Refuse a table without lesion cases, and a baseline or ``show`` loss it does not hold."""
    if results["ref_empty"].astype(bool).all():
        raise ValueError(
            f"{root}: no test case has reference lesions, and the statistics compare the "
            "cases that have them"
        )
    names = sorted(results["method"].unique())
    many = "methods" if unit == "method" else "losses"
    unknown = [n for n in show if n not in names]
    if unknown:
        raise ValueError(
            f"show: {', '.join(unknown)} not in the results of {root} ({many}: {', '.join(names)})"
        )
    if baseline is not None and baseline not in names:
        raise ValueError(
            f"baseline {baseline!r} is not one of the {many} of {root}: {', '.join(names)}"
        )
