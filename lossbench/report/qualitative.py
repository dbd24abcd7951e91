"""The report's qualitative figure: which case and whose predictions it shows, read from the
run folder (the test case's images and the trials' saved predictions)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lossbench.config import locate_test_cases
from lossbench.layout import RunLayout
from lossbench.report.figures import qualitative

__all__ = ["worst_case_figure"]


def worst_case_figure(
    run: RunLayout,
    results: pd.DataFrame,
    baseline: str | None,
    show: Sequence[str],
    seed: int,
    path: Path,
) -> Path | None:
    """The qualitative figure: baseline, follow-up, reference and predictions of the case where
    ``baseline`` has its lowest Dice (seed ``seed``), for the baseline, the method with the best
    mean Dice and those of ``show``; None when the run folder lacks the images or the
    predictions, or they lie on another grid than the case's."""
    import nibabel as nib

    from lossbench.data.msseg2 import FILES

    lesion = results[~results["ref_empty"].astype(bool) & (results["seed"] == seed)]
    location = locate_test_cases(run)
    if baseline is None or baseline not in set(lesion["method"]) or location is None:
        return None
    base_rows = lesion[lesion["method"] == baseline]
    case_id = str(base_rows.loc[base_rows["dice"].idxmin(), "case_id"])
    best = str(lesion.groupby("method")["dice"].mean().idxmax())
    predictions = {}
    for method in dict.fromkeys([baseline, best, *show]):
        file = run.trial(method, seed).prediction(case_id)
        if file.exists():
            image: Any = nib.load(str(file))
            predictions[method] = np.asarray(image.dataobj).astype(bool)
    folder = location / case_id
    if not folder.is_dir() or not predictions:
        return None
    volumes = [_read(folder / FILES[k]) for k in ("baseline", "followup", "label")]
    if any(p.shape != volumes[2].shape for p in predictions.values()):
        return None  # predictions on a resampled grid: not comparable slice by slice
    return qualitative(
        volumes[0], volumes[1], volumes[2].astype(bool), predictions, path, title=f"case {case_id}"
    )


def _read(path: Path) -> np.ndarray:
    import nibabel as nib

    image: Any = nib.load(str(path))
    return np.asarray(image.dataobj)
