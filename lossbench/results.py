"""Reading a run's results table back, checked: every value a metric can take, NaN only where
the empty-mask rule puts it."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path

import numpy as np
import pandas as pd

from lossbench.layout import RunLayout

__all__ = ["check_rows", "check_table", "load", "load_rows", "read_rows"]

_UNIT_INTERVAL = (
    "dice",
    "jaccard",
    "precision",
    "recall",
    "nsd",
    "lesion_precision",
    "lesion_recall",
    "lesion_f1",
    "ece",
    "brier",
)
_DISTANCES = ("hd", "hd95", "asd", "assd")
_COUNTS = ("seed", "n_ref_lesions", "n_pred_lesions", "n_fp_lesions")
_NON_NEGATIVE = (
    "fp_volume_mm3",
    "ref_volume_mm3",
    "pred_volume_mm3",
    "diagonal_mm",
    "train_seconds",
)
_FLAGS = ("ref_empty", "pred_empty", "pred_missing")
_KEYS = {"loss": "loss", "method": "method", "seed": "seed", "case_id": "case"}


def _where(table: pd.DataFrame, position: int) -> str:
    row = table.iloc[position]
    keys = ", ".join(f"{name} {row[k]}" for k, name in _KEYS.items() if k in table.columns)
    return f"row {position + 1}" + (f" ({keys})" if keys else "")


def _refuse(
    table: pd.DataFrame, source: str | Path, mask: pd.Series, column: Hashable, why: str
) -> None:
    position = int(np.flatnonzero(mask.to_numpy())[0])
    value = table[column].iloc[position]
    shown = repr(value) if isinstance(value, str) else "" if pd.isna(value) else str(value)
    count = int(mask.sum())
    more = f" ({count - 1} more row(s) like it)" if count > 1 else ""
    what = f"{shown} {why}" if shown else why
    raise ValueError(f"{source}: {_where(table, position)}, column {column}: {what}{more}")


def _flag(table: pd.DataFrame, source: str | Path, column: str) -> pd.Series:
    values = table[column]
    ok = values.isin([True, False]) & values.notna()
    if not ok.all():
        _refuse(table, source, ~ok, column, "is not true or false")
    return values.astype(bool)


def _nan_allowed(
    table: pd.DataFrame, flags: dict[str, pd.Series], column: str
) -> tuple[pd.Series | None, str]:
    """Where the empty-mask rule lets ``column`` be NaN (None: undecidable from the table's
    columns, so not checked), and the rule in words."""
    never = pd.Series(False, index=table.index)
    ref = flags.get("ref_empty")
    if column in ("lesion_precision", "lesion_f1"):
        return ref, f"but {column} is missing only for a case without reference lesion"
    if column == "lesion_recall":
        if ref is None or "n_ref_lesions" not in table.columns:
            return None, ""
        return ref | (table["n_ref_lesions"] == 0), (
            "but lesion_recall is missing only for a case without a reference lesion above the "
            "size limit"
        )
    if column in _DISTANCES:
        pred = flags.get("pred_empty")
        if ref is None or pred is None:
            return None, ""
        return ref != pred, "but a distance is missing only when exactly one mask is empty"
    return never, f"but {column} is never missing"


def check_table(table: pd.DataFrame, source: str | Path) -> pd.DataFrame:
    """Check a results table (a run's, a trial's or ``lossbench score``'s) as it is read;
    returns it unchanged.

    Every known column must hold numbers (flags: true or false), overlaps and detection scores
    in [0, 1], distances, volumes, counts and seconds finite and >= 0 (counts and seeds
    integers), and NaN only where :func:`lossbench.metrics.evaluate_case` puts it: lesion
    precision and F1 on a case without reference lesion, lesion recall without a reference
    lesion above the size limit, a distance when exactly one mask is empty. A rule whose
    deciding column (``ref_empty``, ``pred_empty``, ``n_ref_lesions``) is absent is not applied.
    Columns lossbench does not know are left alone.

    Raises:
        ValueError: naming ``source``, the row (numbered from 1, the header not counted, and
            named by its loss or method, seed and case), the column and the value at fault.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"], "seed": [0], "case_id": ["p1"], "dice": [7.0]})
        >>> check_table(t, "results.csv")
        Traceback (most recent call last):
        ...
        ValueError: results.csv: row 1 (loss a, seed 0, case p1), column dice: 7.0 is not in [0, 1]
    """
    flags = {c: _flag(table, source, c) for c in _FLAGS if c in table.columns}
    for column in (*_UNIT_INTERVAL, *_DISTANCES, *_COUNTS, *_NON_NEGATIVE):
        if column not in table.columns:
            continue
        raw = table[column]
        values = pd.to_numeric(raw, errors="coerce") if raw.dtype == object else raw
        if values.dtype == bool or not pd.api.types.is_numeric_dtype(values):
            _refuse(table, source, pd.Series(True, index=table.index), column, "is not a number")
        text = values.isna() & raw.notna()
        if text.any():
            _refuse(table, source, text, column, "is not a number")
        values = values.astype(float)
        allowed, rule = _nan_allowed(table, flags, column)
        if allowed is not None and (values.isna() & ~allowed).any():
            missing = values.isna() & ~allowed
            _refuse(
                table, source, missing, column, f"missing (NaN, or empty or 'n/a' in a CSV), {rule}"
            )
        low, high = (0.0, 1.0) if column in _UNIT_INTERVAL else (0.0, np.inf)
        outside = values.notna() & ~((values >= low) & (values <= high) & np.isfinite(values))
        if outside.any():
            where = "in [0, 1]" if column in _UNIT_INTERVAL else "a finite number >= 0"
            _refuse(table, source, outside, column, f"is not {where}")
        fraction = values.notna() & (values != values.round())
        if column in _COUNTS and fraction.any():
            _refuse(table, source, fraction, column, "is not an integer")
    return table


def load(run_dir: str | Path) -> pd.DataFrame:
    """The tidy results table of a run, one row per (loss, seed, case), checked by
    :func:`check_table`.

    Reads ``results.parquet`` (or ``results.csv`` when pyarrow is missing).

    Raises:
        FileNotFoundError: the folder holds no results table.
        ValueError: a value the table cannot hold (file, row, column and value named).
    """
    layout = RunLayout(Path(run_dir))
    parquet, csv = layout.results_parquet, layout.results_csv
    table = _parquet_or_csv(
        parquet, csv, check_table, lambda p: pd.read_csv(p, dtype={"case_id": str})
    )
    if table is None:
        raise FileNotFoundError(f"no {parquet.name} or {csv.name} in {layout.root}")
    return table


def _parquet_or_csv(
    parquet: Path,
    csv: Path,
    check: Callable[[pd.DataFrame, Path], pd.DataFrame],
    read_csv: Callable[[Path], pd.DataFrame],
) -> pd.DataFrame | None:
    """The table of ``parquet`` (or of ``csv`` when pyarrow is missing or the Parquet file is
    absent), checked by ``check``; None when neither file exists."""
    if parquet.exists():
        try:
            return check(pd.read_parquet(parquet), parquet)
        except ImportError:
            pass
    return check(read_csv(csv), csv) if csv.exists() else None


def read_rows(path: str | Path) -> pd.DataFrame:
    """A per-lesion table (``lesions.csv``) or a reliability table (``reliability.csv``), read
    with case ids and locations as text ("" stays "", as such tables hold no missing value).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "lesions.csv"
        >>> _ = path.write_text("case_id,location,volume_mm3" + chr(10) + "007,,4.0" + chr(10))
        >>> read_rows(path).to_dict("records")
        [{'case_id': '007', 'location': '', 'volume_mm3': 4.0}]
    """
    return check_rows(_read_csv(Path(path)), path)


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"case_id": str, "location": str}, keep_default_na=False)


def _numbers(table: pd.DataFrame, column: str, source: str | Path) -> pd.Series:
    values = pd.to_numeric(table[column], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.astype(float))
    if bad.any():
        _refuse(table, source, bad, column, "is not a finite number")
    return values.astype(float)


def check_rows(table: pd.DataFrame, source: str | Path) -> pd.DataFrame:
    """Check a per-lesion or a reliability table as it is read; returns it unchanged.

    Lesion rows: ``side`` ref or pred, ``volume_mm3`` above 0, ``detected`` true or false,
    ``lesion`` a number from 1. Reliability rows: ``bin`` from 0, ``count`` and ``lesion_sum``
    counts with ``lesion_sum <= count``, ``prob_sum`` in [0, count].

    Raises:
        ValueError: naming ``source``, the row, the column and the value at fault.

    Example:
        >>> rows = pd.DataFrame({"loss": ["a"], "case_id": ["p1"], "side": ["both"]})
        >>> check_rows(rows, "lesions.csv")
        Traceback (most recent call last):
        ...
        ValueError: lesions.csv: row 1 (loss a, case p1), column side: 'both' is not ref or pred
    """
    if "side" in table:
        wrong = ~table["side"].isin(["ref", "pred"])
        if wrong.any():
            _refuse(table, source, wrong, "side", "is not ref or pred")
    if "detected" in table:
        _flag(table, source, "detected")
    if "volume_mm3" in table:
        small = _numbers(table, "volume_mm3", source) <= 0
        if small.any():
            _refuse(table, source, small, "volume_mm3", "is not above 0")
    for column, low in {"lesion": 1, "bin": 0, "count": 0, "lesion_sum": 0}.items():
        if column in table:
            values = _numbers(table, column, source)
            wrong = (values < low) | (values != values.round())
            if wrong.any():
                _refuse(table, source, wrong, column, f"is not an integer from {low}")
    if {"count", "prob_sum", "lesion_sum"} <= set(table.columns):
        count = table["count"].astype(float)
        probs = _numbers(table, "prob_sum", source)
        outside = (probs < 0) | (probs > count * (1 + 1e-9))
        if outside.any():
            _refuse(table, source, outside, "prob_sum", "is not in [0, count]")
        over = table["lesion_sum"].astype(float) > count
        if over.any():
            _refuse(table, source, over, "lesion_sum", "is more than count")
    return table


def load_rows(run_dir: str | Path, table: str) -> pd.DataFrame | None:
    """A run's (or a score folder's) ``"lesions"`` table (Parquet, else CSV) or its
    ``"reliability"`` table; None where the folder has none (a run made before lossbench
    wrote them).

    Raises:
        ValueError: ``table`` is neither name.
    """
    layout = RunLayout(Path(run_dir))
    if table == "lesions":
        return _parquet_or_csv(layout.lesions_parquet, layout.lesions_csv, check_rows, _read_csv)
    if table == "reliability":
        return read_rows(layout.reliability) if layout.reliability.exists() else None
    raise ValueError(f"`table` must be 'lesions' or 'reliability', got {table!r}")
