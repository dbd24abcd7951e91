"""Detection by lesion size: lesion recall per reference-volume bin and false-positive lesions
per predicted-volume bin, for each method, with seed-aware bootstrap intervals over cases.

A lesion of volume v lies in bin k when ``edges[k] < v <= edges[k + 1]``, the last bin being
``v > edges[-1]``; lesions of at most ``edges[0]`` lie in none (MSSEG-2 drops those of 3 mm^3
or less before counting). Recall in a bin is the pooled ratio, detected reference lesions over
reference lesions, of the cases drawn; false positives are the mean count per case of predicted
lesions that the reference does not confirm. With several seeds each case's counts are first
averaged over its seeds, and the bootstrap draws the seeds within each drawn case too
(:func:`lossbench.stats.estimators.bootstrap_means`); every method sees the same draws.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from lossbench.stats.estimators import bootstrap_means

__all__ = ["SIZE_COLUMNS", "bin_labels", "check_edges", "detection_by_size", "volume_bins"]

SIZE_COLUMNS = (
    "ref_lesions",
    "recall",
    "recall_low",
    "recall_high",
    "behind_best",
    "fp_per_case",
    "fp_low",
    "fp_high",
)
"""The columns of :func:`detection_by_size`."""


def check_edges(edges: Sequence[float]) -> list[float]:
    """The bin edges as floats, checked: at least one, from 0, strictly increasing, finite.

    Raises:
        ValueError: naming the edges given.

    Example:
        >>> check_edges([3, 10])
        [3.0, 10.0]
        >>> check_edges([10, 3])
        Traceback (most recent call last):
        ...
        ValueError: size bins must be increasing volume edges (mm^3) from 0, got [10, 3]
    """
    values = [float(e) for e in edges]
    ok = bool(values) and values[0] >= 0 and all(np.isfinite(values))
    if not (ok and all(a < b for a, b in itertools.pairwise(values))):
        raise ValueError(
            f"size bins must be increasing volume edges (mm^3) from 0, got {list(edges)}"
        )
    return values


def bin_labels(edges: Sequence[float]) -> list[str]:
    """The bins' names (mm^3).

    Example:
        >>> bin_labels([3, 10, 30.5])
        ['3-10', '10-30.5', '>30.5']
    """
    shown = [f"{e:g}" for e in edges]
    return [f"{a}-{b}" for a, b in itertools.pairwise(shown)] + [f">{shown[-1]}"]


def volume_bins(volumes: Sequence[float] | np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """The bin of each volume (mm^3): k where ``edges[k] < v <= edges[k + 1]``, the last bin
    above ``edges[-1]``, -1 at or below ``edges[0]``.

    Example:
        >>> volume_bins([2, 3, 3.5, 10, 10.5, 300, 301], [3, 10, 30, 100, 300]).tolist()
        [-1, -1, 0, 0, 1, 3, 4]
    """
    return np.searchsorted(np.asarray(edges, float), np.asarray(volumes, float), side="left") - 1


def _counts(
    lesions: pd.DataFrame, grid: pd.MultiIndex, edges: Sequence[float], side: str, hit: bool | None
) -> np.ndarray:
    """(bins, cases, methods, seeds) counts of the ``side`` lesions (those with ``detected``
    equal to ``hit``, all when None) on the (case, method, seed) ``grid``; NaN off the grid."""
    rows = lesions[lesions["side"] == side]
    if hit is not None:
        rows = rows[rows["detected"].astype(bool) == hit]
    rows = rows.assign(bin=volume_bins(rows["volume_mm3"], edges))
    rows = rows[rows["bin"] >= 0]
    counts = rows.groupby(["bin", "case_id", "method", "seed"]).size()
    cases, methods, seeds = grid.levels
    full = pd.MultiIndex.from_product([range(len(edges)), cases, methods, seeds])
    cube = counts.reindex(full, fill_value=0).to_numpy(float)
    cube = cube.reshape(len(edges), len(cases), len(methods), len(seeds))
    present = pd.Series(1.0, index=grid).reindex(pd.MultiIndex.from_product(grid.levels))
    return cube * present.to_numpy().reshape(cube.shape[1:])


def detection_by_size(
    lesions: pd.DataFrame,
    results: pd.DataFrame,
    edges: Sequence[float] = (3, 10, 30, 100, 300),
    n_resamples: int = 2_000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Lesion recall and false-positive lesions per volume bin, for each method.

    Args:
        lesions: per-lesion rows with ``method``, ``seed``, ``case_id``, ``side`` (``"ref"`` or
            ``"pred"``), ``volume_mm3`` and ``detected``.
        results: one row per (``method``, ``seed``, ``case_id``) scored, lesions or not: the
            cases of the false-positive means.
        edges: increasing bin edges (mm^3).
        n_resamples, level, seed: the bootstrap's resamples, interval level and seed.

    Returns:
        Rows indexed by (method, bin name), the columns of :data:`SIZE_COLUMNS`:
        ``ref_lesions`` (reference lesions in the bin, summed over cases and averaged over
        seeds), ``recall`` with its interval (NaN without reference lesions), ``behind_best``
        (the interval of its paired difference from the method with the bin's best recall lies
        below 0), ``fp_per_case`` with its interval.

    Example:
        >>> lesions = pd.DataFrame({"method": ["a", "a", "a", "b", "b"], "seed": 0,
        ...     "case_id": "c1", "side": ["ref", "ref", "pred", "ref", "ref"],
        ...     "volume_mm3": [5.0, 50.0, 5.0, 5.0, 50.0],
        ...     "detected": [True, False, False, False, True]})
        >>> results = pd.DataFrame({"method": ["a", "b"], "seed": 0, "case_id": "c1"})
        >>> t = detection_by_size(lesions, results, edges=[3, 10], n_resamples=10)
        >>> t["recall"].tolist(), t["fp_per_case"].tolist()
        ([1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0])
    """
    edges = check_edges(edges)
    keys = ["case_id", "method", "seed"]
    grid = pd.MultiIndex.from_frame(results[keys].drop_duplicates().astype({"case_id": str}))
    lesions = lesions.astype({"case_id": str})
    found = _counts(lesions, grid, edges, "ref", True)
    total = _counts(lesions, grid, edges, "ref", None)
    false = _counts(lesions, grid, edges, "pred", False)
    methods = list(grid.levels[1])
    frames = [
        _bin(found[b], total[b], false[b], n_resamples, level, seed).assign(
            method=methods, bin=name
        )
        for b, name in enumerate(bin_labels(edges))
    ]
    table = pd.concat(frames).set_index(["method", "bin"])
    order = pd.MultiIndex.from_product([methods, bin_labels(edges)], names=["method", "bin"])
    return table.loc[order, list(SIZE_COLUMNS)]


def _bin(
    found: np.ndarray,
    total: np.ndarray,
    false: np.ndarray,
    n_resamples: int,
    level: float,
    seed: int,
) -> pd.DataFrame:
    """One bin's columns from its (cases, methods, seeds) counts."""
    k = found.shape[1]
    tail = (1 - level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # bins without lesions give NaN
        cube = np.concatenate([found, total, false], axis=1)  # (cases, 3 x methods, seeds)
        point = np.nanmean(np.nanmean(cube, axis=2), axis=0)  # seeds first, then cases
        means = bootstrap_means(cube, n_resamples, np.random.default_rng(seed))
        recall = point[:k] / point[k : 2 * k]
        draws = means[:, :k] / means[:, k : 2 * k]
        low, high = np.nanquantile(draws, [tail, 1 - tail], axis=0)
        best = int(np.nanargmax(recall)) if np.isfinite(recall).any() else 0
        gap_high = np.nanquantile(draws - draws[:, [best]], 1 - tail, axis=0)
        fp_low, fp_high = np.nanquantile(means[:, 2 * k :], [tail, 1 - tail], axis=0)
    return pd.DataFrame(
        {
            "ref_lesions": point[k : 2 * k] * found.shape[0],
            "recall": recall,
            "recall_low": low,
            "recall_high": high,
            "behind_best": np.nan_to_num(gap_high, nan=0.0) < 0,
            "fp_per_case": point[2 * k :],
            "fp_low": fp_low,
            "fp_high": fp_high,
        }
    )
