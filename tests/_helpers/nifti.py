"""NIfTI files in tests, typed: ``nib.load`` is declared to return any image class."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import nibabel as nib
import numpy as np


def load_nifti(path: str | Path) -> nib.Nifti1Image:
    """The NIfTI image at ``path`` (every file the tests read is ``.nii.gz``)."""
    return cast(nib.Nifti1Image, nib.load(str(path)))


def read_volume(path: str | Path) -> np.ndarray:
    """The voxel array of the NIfTI image at ``path``, in its stored dtype."""
    return np.asarray(load_nifti(path).dataobj)
