"""Scoring any model's predictions: MSSEG-2's metrics for masks made anywhere.

``score`` enters lossbench's data flow at "per-case metrics": it matches prediction files to
reference files by case id, checks that each pair shares its grid, scores every case with
:func:`lossbench.metrics.evaluate_case` at the reference's voxel size, and returns the tidy
table, one row per (method, case), with a ``method`` column where a run has ``loss``.

Folders it reads, as reference or as predictions:

- flat: ``<case>.nii.gz`` (or ``.nii``), as nnU-Net writes its predictions;
- an nnU-Net raw dataset: its ``labelsTs/`` (reference only);
- MSSEG-2 case folders, ``<case>/ground_truth.nii.gz`` (reference only).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from lossbench._files import write_atomic
from lossbench._folders import check_output
from lossbench.data.msseg2 import FILES, read_volume
from lossbench.layout import RunLayout
from lossbench.metrics import evaluate_case

__all__ = [
    "DetectionRule",
    "check_score_folder",
    "find_masks",
    "match_cases",
    "score",
    "score_case",
    "write_scores",
]

_ENDINGS = (".nii.gz", ".nii")


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


def _case_id(name: str) -> str | None:
    for ending in _ENDINGS:
        if name.endswith(ending) and not name.startswith("."):
            return name[: -len(ending)]
    return None


def _flat_masks(folder: Path) -> dict[str, Path]:
    """Case id -> file of the ``<case>.nii.gz`` (or ``.nii``) files of ``folder``."""
    return {
        case_id: file
        for file in sorted(folder.iterdir())
        if (case_id := _case_id(file.name)) is not None and file.is_file()
    }


def find_masks(folder: str | Path) -> dict[str, Path]:
    """Case id -> mask file of a folder: ``labelsTs/`` of an nnU-Net raw dataset, MSSEG-2 case
    folders (``<case>/ground_truth.nii.gz``), or flat ``<case>.nii.gz`` files.

    Raises:
        FileNotFoundError: ``folder`` is not a folder, or holds no mask in any of these layouts.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "p01.nii.gz").write_bytes(b""), (folder / "p02.nii").write_bytes(b"")
        >>> sorted(find_masks(folder))
        ['p01', 'p02']
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder at {root}")
    if (root / "labelsTs").is_dir():
        root = root / "labelsTs"
    cases = {
        d.name: d / FILES["label"]
        for d in sorted(root.iterdir())
        if d.is_dir() and (d / FILES["label"]).is_file()
    }
    if cases:
        return cases
    flat = _flat_masks(root)
    if not flat:
        raise FileNotFoundError(
            f"{root} holds no mask: expected <case>.nii.gz files, an nnU-Net dataset's labelsTs/ "
            f"or MSSEG-2 case folders with {FILES['label']}"
        )
    return flat


def match_cases(
    reference: Mapping[str, Path], predictions: Mapping[str, Path], method: str, allow_missing: bool
) -> list[tuple[str, Path, Path | None]]:
    """``(case id, reference file, prediction file or None)`` for every reference case.

    Raises:
        ValueError: a reference case has no prediction (unless ``allow_missing``), or a
            prediction has no reference case; the message lists both.

    Example:
        >>> match_cases({"a": Path("r/a.nii.gz")}, {}, "m", allow_missing=True)
        [('a', PosixPath('r/a.nii.gz'), None)]
    """
    missing = sorted(set(reference) - set(predictions))
    extra = sorted(set(predictions) - set(reference))
    if (missing and not allow_missing) or extra:
        problems = []
        if missing:
            problems.append(f"no prediction for {len(missing)} case(s): {', '.join(missing)}")
        if extra:
            problems.append(
                f"{len(extra)} prediction(s) without a reference case: {', '.join(extra)}"
            )
        hint = " (--allow-missing scores a missing prediction as an empty mask)" if missing else ""
        raise ValueError(f"method {method}: " + "; ".join(problems) + hint)
    return [(case_id, reference[case_id], predictions.get(case_id)) for case_id in reference]


def _scaling(path: Path) -> str:
    """The header scaling of a NIfTI file, for a message (empty when it has none)."""
    import nibabel as nib

    image: Any = nib.load(str(path))
    slope, inter = image.dataobj.slope, image.dataobj.inter
    if (slope, inter) == (1.0, 0.0):
        return ""
    return f" after the header's scaling (slope {slope:g}, intercept {inter:g})"


def _shown(values: np.ndarray) -> str:
    return ", ".join(f"{v:g}" for v in values[:10]) + (" ..." if len(values) > 10 else "")


def _mask(data: np.ndarray, path: Path, label: int | None) -> np.ndarray:
    """The lesion mask of a label image: ``data == label``, or ``data == 1`` of a binary one.

    Values are read as NIfTI defines them (the header's slope and intercept applied), and must
    be whole numbers: a probability map needs a threshold, which is the user's to choose.
    """
    if data.dtype.kind == "f":
        fraction = data != np.round(data)
        if fraction.any():
            values = np.unique(data[fraction])
            raise ValueError(
                f"{path} is not a label image: it holds the non-integer value(s) "
                f"{_shown(values)}{_scaling(path)}; a probability map needs a threshold: save "
                "(probability > t) as integers, with the t you choose"
            )
    if label is not None:
        return np.asarray(data == label)
    low, high = data.min(), data.max()  # two passes, where np.unique would sort the volume
    if not (low >= 0 and high <= 1):
        raise ValueError(
            f"{path} is not a binary mask (values {_shown(np.unique(data))}); choose the lesion "
            "label with --label K"
        )
    return np.asarray(data == 1)


def score_case(
    case_id: str,
    reference: Path,
    prediction: Path | None,
    label: int | None = None,
    rule: DetectionRule = DetectionRule(),
    affine_tolerance: float = 1e-3,
) -> dict[str, Any]:
    """Every metric of one case, scored at the reference's voxel size; a missing prediction
    (None) is an empty mask, flagged ``pred_missing``.

    Raises:
        ValueError: the prediction's shape or affine (beyond ``affine_tolerance``, mm) differs
            from the reference's (the message names the case and both geometries), a mask is
            not binary and no ``label`` is given, or a mask holds non-integer values (a
            probability map, or a label image whose header scaling makes fractions).

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
    ref_data, ref_affine, spacing = read_volume(reference)
    ref = _mask(ref_data, reference, label)
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
        pred = _mask(data, prediction, label)
    metrics = evaluate_case(pred, ref, spacing, **asdict(rule))
    return {"case_id": case_id, **metrics, "pred_missing": prediction is None}


_Job = tuple[str, Path, Path | None, int | None, DetectionRule, float]
"""The arguments of one :func:`score_case` call."""


def _score_one(job: _Job) -> dict[str, Any]:
    return score_case(*job)


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
    """Score each method's predictions against the reference masks.

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
        One row per (method, case): ``method``, ``case_id``, every key of
        :data:`lossbench.metrics.METRIC_KEYS` and ``pred_missing``.

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
    table = pd.DataFrame(_score_all(jobs, workers or os.cpu_count() or 1, progress))
    if label is not None and table["ref_empty"].all():
        first = next(iter(ref_files.values()))
        raise ValueError(
            f"--label {label} appears in none of the {len(ref_files)} reference masks of "
            f"{reference} (the labels of {first.name}: {_shown(np.unique(read_volume(first)[0]))})"
            "; choose a label the references hold"
        )
    table.insert(0, "method", methods)
    return table


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
            ref_files, _flat_masks(pred_folder), method, allow_missing
        ):
            jobs.append((case_id, ref_file, pred_file, label, rule, affine_tolerance))
            methods.append(method)
    return jobs, methods


def _score_all(jobs: list[_Job], workers: int, progress: bool) -> list[dict[str, Any]]:
    """The rows of ``jobs``, in order, scored in this process (``workers`` 1) or in a pool."""
    rows = []
    # closed on an error too, so that the error's message starts on a line of its own
    with tqdm(total=len(jobs), desc="score", unit="case", disable=not progress) as bar:
        if workers == 1:
            for job in jobs:
                rows.append(_score_one(job))
                bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                chunks = max(1, len(jobs) // (8 * workers))
                for row in pool.map(_score_one, jobs, chunksize=chunks):
                    rows.append(row)
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
    table: pd.DataFrame, out: str | Path, rule: DetectionRule, settings: Mapping[str, Any]
) -> list[Path]:
    """Write a :func:`score` table as ``results.csv`` and ``results.parquet`` (the run's layout,
    with ``method`` for ``loss``) and its settings, detection rule included, as ``score.json``;
    returns the paths. ``out`` is checked by :func:`check_score_folder` first.

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
    return written
