"""Reading a run's results table back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lossbench.layout import RunLayout

__all__ = ["load"]


def load(run_dir: str | Path) -> pd.DataFrame:
    """The tidy results table of a run: one row per (loss, seed, case).

    Reads ``results.parquet`` (or ``results.csv`` when pyarrow is missing).

    Raises:
        FileNotFoundError: the folder holds no results table.
    """
    layout = RunLayout(Path(run_dir))
    parquet, csv = layout.results_parquet, layout.results_csv
    if parquet.exists():
        try:
            return pd.read_parquet(parquet)
        except ImportError:
            pass
    if csv.exists():
        return pd.read_csv(csv, dtype={"case_id": str})
    raise FileNotFoundError(f"no {parquet.name} or {csv.name} in {layout.root}")
