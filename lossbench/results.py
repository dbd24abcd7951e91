"""Reading a run's results table back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["load", "summary"]


def load(run_dir: str | Path) -> pd.DataFrame:
    """The tidy results table of a run: one row per (loss, seed, case).

    Reads ``results.parquet`` (or ``results.csv`` when pyarrow is missing).

    Raises:
        FileNotFoundError: the folder holds no results table.
    """
    folder = Path(run_dir)
    parquet, csv = folder / "results.parquet", folder / "results.csv"
    if parquet.exists():
        try:
            return pd.read_parquet(parquet)
        except ImportError:
            pass
    if csv.exists():
        return pd.read_csv(csv, dtype={"case_id": str})
    raise FileNotFoundError(f"no results.parquet or results.csv in {folder}")


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean Dice, HD95 and lesion F1 per loss over the test cases that have lesions, and the
    mean number of false-positive lesions on those that have none; best Dice first.

    Example:
        >>> t = pd.DataFrame({"loss": ["a", "a", "b", "b"], "seed": 0, "case_id": ["1", "2"] * 2,
        ...     "dice": [0.5, 1.0, 0.7, 1.0], "hd95": [1.0, 0.0, 2.0, 0.0],
        ...     "lesion_f1": [0.5, float("nan"), 1.0, float("nan")],
        ...     "ref_empty": [False, True] * 2, "n_fp_lesions": [0, 1, 0, 0]})
        >>> summary(t).index.tolist(), summary(t)["dice"].tolist()
        (['b', 'a'], [0.7, 0.5])
    """
    lesion = table[~table["ref_empty"].astype(bool)]
    empty = table[table["ref_empty"].astype(bool)]
    result = lesion.groupby("loss")[["dice", "hd95", "lesion_f1"]].mean()
    result["fp_lesions_on_empty"] = empty.groupby("loss")["n_fp_lesions"].mean()
    return result.sort_values("dice", ascending=False)
