"""Scoring any model's predictions: MSSEG-2's metrics for masks made anywhere.

``score`` enters lossbench's data flow at "per-case metrics": it matches prediction files to
reference files by case id, checks that each pair shares its grid, scores every case with
:func:`lossbench.metrics.evaluate_case_lesions` at the reference's voxel size, and returns the
tidy table, one row per (method, case), with a ``method`` column where a run has ``loss``;
:func:`score_tables` returns the per-lesion table of the same pass beside it (a lesion's
location class where the reference case folder has a tissue map, ``tissue.nii.gz``).

Folders it reads, as reference or as predictions:

- flat: ``<case>.nii.gz`` (or ``.nii``), as nnU-Net writes its predictions;
- an nnU-Net raw dataset: its ``labelsTs/`` (reference only);
- MSSEG-2 case folders, ``<case>/ground_truth.nii.gz`` (reference only).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from lossbench._files import write_atomic
from lossbench._folders import check_output
from lossbench.data.locations import LOCATION_CLASSES, check_tissue, location_map
from lossbench.data.msseg2 import FILES, TISSUE_FILE, read_volume
from lossbench.layout import RunLayout
from lossbench.masks import find_masks, flat_masks, match_cases, read_mask, shown
from lossbench.metrics import LESION_KEYS, evaluate_case_lesions

__all__ = [
    "DetectionRule",
    "check_score_folder",
    "find_masks",
    "match_cases",
    "score",
    "score_case",
    "score_case_lesions",
    "score_tables",
    "write_scores",
]


@dataclass(frozen=True)
class DetectionRule:
    """The lesion-detection rule and the surface-Dice tolerance of
    :func:`lossbench.metrics.evaluate_case` (MSSEG-2's values by default)."""

    min_lesion_mm3: float = 3.0
    alpha: float = 0.10
    beta: float = 0.70
    gamma: float = 0.65
    connectivity: int = 6
    nsd_tolerance_mm: float = 1.0


def score_case(
    case_id: str,
    reference: Path,
    prediction: Path | None,
    label: int | None = None,
    rule: DetectionRule = DetectionRule(),
    affine_tolerance: float = 1e-3,
) -> dict[str, Any]:
    """Every metric of one case, scored at the reference's voxel size; a missing prediction
    (None) is an empty mask, flagged ``pred_missing``. :func:`score_case_lesions` tells more.

    Example:
        >>> import tempfile, nibabel as nib
        >>> folder = Path(tempfile.mkdtemp())
        >>> ref = np.zeros((8, 8, 8), np.uint8); ref[2:5, 2:5, 2:5] = 1
        >>> nib.save(nib.Nifti1Image(ref, np.eye(4)), folder / "ref.nii.gz")
        >>> nib.save(nib.Nifti1Image(ref, np.eye(4)), folder / "pred.nii.gz")
        >>> row = score_case("a", folder / "ref.nii.gz", folder / "pred.nii.gz")
        >>> row["dice"], row["pred_missing"]
        (1.0, False)
    """
    return score_case_lesions(case_id, reference, prediction, label, rule, affine_tolerance)[0]


def score_case_lesions(
    case_id: str,
    reference: Path,
    prediction: Path | None,
    label: int | None = None,
    rule: DetectionRule = DetectionRule(),
    affine_tolerance: float = 1e-3,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """:func:`score_case`'s row and the case's per-lesion rows (``case_id`` and the keys of
    :data:`lossbench.metrics.LESION_KEYS`; ``location`` from the reference folder's
    ``tissue.nii.gz`` where there is one, else "").

    Raises:
        ValueError: the prediction's shape or affine (beyond ``affine_tolerance``, mm) differs
            from the reference's (the message names the case and both geometries), a mask is
            not binary and no ``label`` is given, or a mask holds non-integer values (a
            probability map, or a label image whose header scaling makes fractions).
    """
    ref_data, ref_affine, spacing = read_volume(reference)
    ref = read_mask(ref_data, reference, label)
    if prediction is None:
        pred = np.zeros_like(ref)
    else:
        data, affine, _ = read_volume(prediction)
        if data.shape != ref_data.shape or not np.allclose(
            affine, ref_affine, atol=affine_tolerance
        ):
            raise ValueError(
                f"case {case_id}: the prediction {prediction} (shape {data.shape}, affine "
                f"{np.round(affine, 4).tolist()}) is not on the grid of the reference {reference} "
                f"(shape {ref_data.shape}, affine {np.round(ref_affine, 4).tolist()})"
            )
        pred = read_mask(data, prediction, label)
    metrics, lesions = evaluate_case_lesions(
        *(pred, ref, spacing),
        **asdict(rule),
        regions=_regions(reference, ref.shape, spacing),
        region_names=LOCATION_CLASSES,  # "" for every lesion of a reference without a map
    )
    row = {"case_id": case_id, **metrics, "pred_missing": prediction is None}
    return row, [{"case_id": case_id, **lesion} for lesion in lesions]


@functools.lru_cache(maxsize=1)  # the methods of a case are scored one after the other
def _regions(
    reference: Path, shape: tuple[int, ...], spacing: tuple[float, float, float]
) -> np.ndarray | None:
    """The location map of a reference in an MSSEG-2 case folder with a tissue map (None
    elsewhere); a tissue map off the reference's grid, or of unknown codes, is refused."""
    tissue = reference.parent / TISSUE_FILE
    if reference.name != FILES["label"] or not tissue.is_file():
        return None
    data = read_volume(tissue)[0]
    if data.shape != shape:
        raise ValueError(f"{tissue} has shape {data.shape} but {reference} has {shape}")
    check_tissue(data, str(tissue))
    return location_map(data.astype(np.int16), spacing)


_Job = tuple[str, Path, Path | None, int | None, DetectionRule, float]
"""The arguments of one :func:`score_case` call."""


def _score_one(job: _Job) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return score_case_lesions(*job)


def score_tables(
    reference: str | Path,
    predictions: Mapping[str, str | Path],
    *,
    label: int | None = None,
    rule: DetectionRule = DetectionRule(),
    allow_missing: bool = False,
    workers: int | None = None,
    affine_tolerance: float = 1e-3,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score each method's predictions against the reference masks: the results table of
    :func:`score` and, from the same pass, the per-lesion table.

    Args:
        reference: the reference folder (see :func:`find_masks`).
        predictions: method name -> folder of ``<case>.nii.gz`` predictions.
        label: the lesion label when masks hold several labels (every other is background).
        rule: the lesion-detection rule and NSD tolerance.
        allow_missing: score a missing prediction as an empty mask instead of refusing.
        workers: processes scoring cases in parallel (default: every core; 1: this process).
        affine_tolerance: largest difference (mm) allowed between the affines of a pair.
        progress: show a progress bar.

    Returns:
        ``(results, lesions)``: one row per (method, case) with ``method``, ``case_id``, every
        key of :data:`lossbench.metrics.METRIC_KEYS` and ``pred_missing``; and one row per
        reference and per predicted lesion with ``method``, ``case_id`` and the keys of
        :data:`lossbench.metrics.LESION_KEYS`.

    Raises:
        ValueError: no method, missing or extra cases, a geometry mismatch, a mask that is not
            binary (without ``label``) or holds non-integer values, a ``label`` that no
            reference holds.
        FileNotFoundError: a folder that does not exist or holds no mask.
    """
    if not predictions:
        raise ValueError("give at least one method's predictions (--pred NAME=DIR)")
    ref_files = find_masks(reference)
    jobs, methods = _jobs(ref_files, predictions, allow_missing, label, rule, affine_tolerance)
    _regions.cache_clear()  # a tissue map may have changed since an earlier call
    scored = _score_all(jobs, workers or os.cpu_count() or 1, progress)
    table = pd.DataFrame([row for row, _ in scored])
    if label is not None and table["ref_empty"].all():
        first = next(iter(ref_files.values()))
        raise ValueError(
            f"--label {label} appears in none of the {len(ref_files)} reference masks of "
            f"{reference} (the labels of {first.name}: {shown(np.unique(read_volume(first)[0]))})"
            "; choose a label the references hold"
        )
    table.insert(0, "method", methods)
    lesions = pd.DataFrame(
        [
            {"method": m, **lesion}
            for m, (_, rows) in zip(methods, scored, strict=True)
            for lesion in rows
        ],
        columns=["method", "case_id", *LESION_KEYS],
    )
    return table, lesions


def score(
    reference: str | Path,
    predictions: Mapping[str, str | Path],
    *,
    label: int | None = None,
    rule: DetectionRule = DetectionRule(),
    allow_missing: bool = False,
    workers: int | None = None,
    affine_tolerance: float = 1e-3,
    progress: bool = True,
) -> pd.DataFrame:
    """The results table of :func:`score_tables` (same arguments and errors): one row per
    (method, case) with ``method``, ``case_id``, every key of
    :data:`lossbench.metrics.METRIC_KEYS` and ``pred_missing``."""
    return score_tables(
        reference,
        predictions,
        label=label,
        rule=rule,
        allow_missing=allow_missing,
        workers=workers,
        affine_tolerance=affine_tolerance,
        progress=progress,
    )[0]


def _jobs(
    ref_files: Mapping[str, Path],
    predictions: Mapping[str, str | Path],
    allow_missing: bool,
    label: int | None,
    rule: DetectionRule,
    affine_tolerance: float,
) -> tuple[list[_Job], list[str]]:
    """One :func:`score_case` job per (method, reference case), and the method of each."""
    jobs: list[_Job] = []
    methods: list[str] = []
    for method, folder in predictions.items():
        pred_folder = Path(folder)
        if not pred_folder.is_dir():
            raise FileNotFoundError(f"method {method}: no folder at {pred_folder}")
        for case_id, ref_file, pred_file in match_cases(
            ref_files, flat_masks(pred_folder), method, allow_missing
        ):
            jobs.append((case_id, ref_file, pred_file, label, rule, affine_tolerance))
            methods.append(method)
    return jobs, methods


def _score_all(
    jobs: list[_Job], workers: int, progress: bool
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The rows of ``jobs``, in order, scored in this process (``workers`` 1) or in a pool.

    The jobs run case by case (each case's methods one after the other), so that a
    reference's location map, cached by :func:`_regions`, serves all its methods."""
    order = sorted(range(len(jobs)), key=lambda i: jobs[i][1])  # stable: methods keep order
    rows: list[Any] = [None] * len(jobs)
    # closed on an error too, so that the error's message starts on a line of its own
    bar = tqdm(total=len(jobs), desc="score", unit="case", disable=not progress)
    with bar, contextlib.ExitStack() as stack:
        results: Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]
        if workers == 1:
            results = map(_score_one, (jobs[i] for i in order))
        else:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=workers))
            chunks = max(1, len(jobs) // (8 * workers))
            results = pool.map(_score_one, [jobs[i] for i in order], chunksize=chunks)
        for i, row in zip(order, results, strict=True):
            rows[i] = row
            bar.update(1)
    return rows


def check_score_folder(out: str | Path, inputs: Sequence[str | Path] = ()) -> Path:
    """Check, before anything is scored or written, that scores may go into ``out``: a new or
    empty folder, or lossbench's own earlier scores (``score.json``, or a ``nnunet benchmark``
    folder); never a run folder, and never a folder that is, holds or lies inside one of the
    ``inputs`` (the reference and prediction folders). Returns ``out`` as a path.

    Raises:
        ValueError: naming the folder and what it holds.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> check_score_folder(folder / "scores", inputs=[folder])
        Traceback (most recent call last):
        ...
        ValueError: ... lies inside the input ...
    """
    given = [("input", Path(p)) for p in inputs]
    return check_output(out, "scores", also=("nnU-Net benchmark",), inputs=given)


def write_scores(
    table: pd.DataFrame,
    out: str | Path,
    rule: DetectionRule,
    settings: Mapping[str, Any],
    lesions: pd.DataFrame | None = None,
) -> list[Path]:
    """Write a :func:`score` table as ``results.csv`` and ``results.parquet`` (the run's layout,
    with ``method`` for ``loss``), the per-lesion table of :func:`score_tables` (when given) as
    ``lesions.csv`` and ``lesions.parquet``, and the settings, detection rule included, as
    ``score.json``; returns the paths. ``out`` is checked by :func:`check_score_folder` first.

    Example:
        >>> import tempfile
        >>> table = pd.DataFrame({"method": ["a"], "case_id": ["p01"], "dice": [1.0]})
        >>> [p.name for p in write_scores(table, tempfile.mkdtemp(), DetectionRule(), {})]
        ['results.csv', 'results.parquet', 'score.json']
    """
    layout = RunLayout(check_score_folder(out))
    layout.root.mkdir(parents=True, exist_ok=True)
    settings_json = json.dumps({**settings, "rule": asdict(rule)}, indent=1) + "\n"
    write_atomic(layout.results_csv, lambda path: table.to_csv(path, index=False))
    write_atomic(layout.results_parquet, lambda path: table.to_parquet(path, index=False))
    write_atomic(layout.root / "score.json", lambda path: path.write_text(settings_json))
    written = [layout.results_csv, layout.results_parquet, layout.root / "score.json"]
    if lesions is not None:
        write_atomic(layout.lesions_csv, lambda path: lesions.to_csv(path, index=False))
        write_atomic(layout.lesions_parquet, lambda path: lesions.to_parquet(path, index=False))
        written += [layout.lesions_csv, layout.lesions_parquet]
    return written
