"""The ICBM 2009a symmetric template that nilearn ships, and the maps the phantom derives from it.

nilearn's wheel holds the template's grey- and white-matter probability maps at 1 mm
(197 x 233 x 189 voxels, MNI coordinates); they are read from there with nibabel, never copied
or downloaded. Their copyright notice is in the NOTICE file. From them, once per process:

- the brain: tissue (grey + white matter) above 0.3, closed and hole-filled;
- CSF: the brain minus tissue, so sulci and ventricles hold it;
- the lateral ventricles: CSF above 0.5, at least 10 mm deep in the brain and away from grey
  matter (which separates them from the interhemispheric fissure), components over 1000 mm^3;
- distances (mm) to the ventricles and to the cortex (grey matter above 0.5);
- the infratentorial region, approximated in MNI coordinates as z < -18 mm behind y = -25 mm
  (cerebellum and brainstem), or the brainstem's box |x| < 15 mm, -45 < y < -10 mm, z < -10 mm;
- the atrophy field: the gradient of the ventricles smoothed over 6 mm, scaled to a largest
  length of 1, pointing into the ventricles.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

__all__ = [
    "TEMPLATE_FILES",
    "TEMPLATE_NOTICE",
    "Template",
    "TemplateError",
    "check_template",
    "load_template",
    "template_files",
]

TEMPLATE_FILES = {
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
"""The template's maps in nilearn's ``datasets/data`` folder."""

TEMPLATE_NOTICE = (
    "These phantom cases derive from the ICBM 2009a nonlinear symmetric template.\n"
    "Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal "
    "Neurological Institute, McGill University.\n"
    "Permission to use, copy, modify, and distribute this software and its documentation for "
    "any purpose and without fee is hereby granted, provided that the above copyright notice "
    "appear in all copies. The authors and McGill University make no representations about "
    'the suitability of this software for any purpose. It is provided "as is" without '
    "express or implied warranty.\n"
)
"""The template's notice, written beside every anatomy phantom (``NOTICE.txt``), as its licence
asks of every copy and derivative."""

_FIX = "reinstall nilearn (pip install --force-reinstall nilearn), whose wheel holds them"


class TemplateError(OSError):
    """nilearn's template maps are missing or unreadable; the message names the file and the
    fix."""


@dataclass(frozen=True)
class Template:
    """The template's maps on its own 1 mm grid (axes x, y, z), cropped to the brain and a
    12 mm margin.

    Attributes:
        affine: voxel -> MNI mm.
        gm, wm, csf: tissue probabilities (float32, 0-1).
        brain: the hole-filled brain (float32, 0 or 1).
        ventricles: the lateral ventricles (float32, 0 or 1).
        ventricle_mm, cortex_mm: distance to the ventricles and to the cortex (float32, mm).
        infratentorial: the infratentorial region (float32, 0 or 1).
        pull: the atrophy field (float32, shape (3, *grid)), unit length at most.
        centres: MNI position (mm) of the centre of the bounding box of the brain (``"brain"``)
            and of the lateral ventricles (``"ventricles"``).
    """

    affine: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    brain: np.ndarray
    ventricles: np.ndarray
    ventricle_mm: np.ndarray
    cortex_mm: np.ndarray
    infratentorial: np.ndarray
    pull: np.ndarray
    centres: dict[str, np.ndarray]


def template_files() -> dict[str, Path]:
    """The paths of nilearn's template maps (:data:`TEMPLATE_FILES`), nilearn not imported.

    Raises:
        TemplateError: nilearn is not installed, or a map is not in its wheel.

    Example:
        >>> sorted(template_files())
        ['gm', 'wm']
    """
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise TemplateError(
            "the anatomy phantom reads the ICBM 2009a template from nilearn, which is not "
            "installed: pip install nilearn (or use data.phantom = 'blobs')"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    paths = {name: folder / file for name, file in TEMPLATE_FILES.items()}
    for path in paths.values():
        if not path.is_file():
            raise TemplateError(f"nilearn's template map {path} is missing: {_FIX}")
    return paths


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import nibabel as nib

    try:
        image = nib.load(path)
        data = np.asanyarray(image.dataobj).astype(np.float32)  # type: ignore[attr-defined]
    except Exception as error:  # a truncated or corrupt file: name it
        raise TemplateError(
            f"nilearn's template map {path} is unreadable ({error}): {_FIX}"
        ) from None
    if data.ndim != 3 or not np.isfinite(data).all() or data.max() <= 0:
        raise TemplateError(f"nilearn's template map {path} holds no probability map: {_FIX}")
    return data / data.max(), np.asarray(image.affine)  # type: ignore[attr-defined]


def check_template() -> None:
    """Read nilearn's template maps, as :func:`load_template` will, without deriving anything
    from them (a tenth of a second): the check a configuration passes before any folder is
    made.

    Raises:
        TemplateError: see :func:`template_files`; or a map that cannot be read.

    Example:
        >>> check_template()
    """
    for path in template_files().values():
        _read(path)


@functools.lru_cache(maxsize=1)
def load_template() -> Template:
    """The template and its derived maps, computed once per process (a few seconds).

    Raises:
        TemplateError: see :func:`template_files`; or a map that cannot be read.

    Example:
        >>> load_template().gm.shape  # of the template's 197 x 233 x 189
        (169, 206, 168)
    """
    paths = template_files()
    gm, affine = _read(paths["gm"])
    wm, _ = _read(paths["wm"])
    # the brain's bounding box and a 12 mm margin: half the voxels, the same maps
    index = np.argwhere(gm + wm > 0.05)
    low = np.maximum(index.min(0) - 12, 0)
    crop = tuple(slice(a, b) for a, b in zip(low, index.max(0) + 13, strict=True))
    gm, wm = gm[crop], wm[crop]
    affine = affine.copy()
    affine[:3, 3] += affine[:3, :3] @ low
    tissue = gm + wm
    brain = ndimage.binary_fill_holes(ndimage.binary_closing(tissue > 0.3, iterations=3))
    csf = np.clip(brain - tissue, 0.0, 1.0) * brain
    ventricles = _ventricles(gm, csf, brain)
    cortex = gm > 0.5
    centres = {"brain": _centre_mm(brain, affine), "ventricles": _centre_mm(ventricles, affine)}
    return Template(
        affine=affine,
        gm=gm,
        wm=wm,
        csf=csf.astype(np.float32),
        brain=brain.astype(np.float32),
        ventricles=ventricles.astype(np.float32),
        ventricle_mm=ndimage.distance_transform_edt(~ventricles).astype(np.float32),
        cortex_mm=ndimage.distance_transform_edt(~cortex).astype(np.float32),
        infratentorial=_infratentorial(gm.shape, affine),
        pull=_pull(ventricles),
        centres=centres,
    )


def _centre_mm(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """MNI position (mm) of the centre of a mask's bounding box."""
    index = np.argwhere(mask)
    return affine[:3, :3] @ ((index.min(0) + index.max(0)) / 2) + affine[:3, 3]


def _ventricles(gm: np.ndarray, csf: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """The lateral ventricles: deep CSF away from grey matter, components over 1000 voxels."""
    depth = ndimage.distance_transform_edt(brain)
    deep = (csf > 0.5) & (depth > 10) & (ndimage.maximum_filter(gm, size=5) < 0.6)
    labels, count = ndimage.label(deep)
    sizes = ndimage.sum(deep, labels, range(1, count + 1))
    return np.isin(labels, 1 + np.flatnonzero(sizes > 1000))


def _infratentorial(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """Cerebellum and brainstem as boxes in MNI coordinates (see the module's docstring)."""
    axes = [np.arange(s, dtype=np.float32) for s in shape]
    x = (affine[0, 0] * axes[0] + affine[0, 3])[:, None, None]
    y = (affine[1, 1] * axes[1] + affine[1, 3])[None, :, None]
    z = (affine[2, 2] * axes[2] + affine[2, 3])[None, None, :]
    below = (z < -18) & (y < -25)
    stem = (np.abs(x) < 15) & (y > -45) & (y < -10) & (z < -10)
    return (below | stem).astype(np.float32)


def _pull(ventricles: np.ndarray) -> np.ndarray:
    """Unit-scaled gradient of the ventricles smoothed over 6 mm (points into them)."""
    smooth = ndimage.gaussian_filter(ventricles.astype(np.float32), 6.0)
    gradient = np.stack(np.gradient(smooth)).astype(np.float32)
    gradient /= max(float(np.sqrt((gradient**2).sum(0)).max()), 1e-12)
    return gradient
