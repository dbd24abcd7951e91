"""Preprocessing: resampling, brain mask, crop, z-score and the three-channel network input,
and the way back (:func:`to_native`) that puts a prediction on the case's own grid.

All functions are pure numpy/scipy on (x, y, z) volumes; voxel coordinates keep their origin at
the centre of voxel 0, so a point at ``i * spacing`` mm lands at ``i * spacing / target`` after
resampling and labels stay aligned with the images.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from lossbench._geometry import bounding_box
from lossbench.data.locations import location_map
from lossbench.data.msseg2 import Case

__all__ = [
    "PreparedCase",
    "crop_box",
    "network_input",
    "prepare_case",
    "resample",
    "threshold_brain_mask",
    "to_native",
    "zscore",
]


def resample(
    volume: np.ndarray,
    spacing: Sequence[float],
    target: Sequence[float],
    order: int = 1,
    shape: Sequence[int] | None = None,
) -> np.ndarray:
    """Resample a 3D volume from ``spacing`` to ``target`` voxel size (mm).

    Output voxel ``j`` takes the value at input coordinate ``j * target / spacing`` (voxel
    centres, origin at voxel 0), so resampling back with ``shape`` set to the original shape
    lands on the original grid.

    Args:
        volume: 3D array.
        spacing, target: voxel sizes (mm) per axis.
        order: spline order: 0 (nearest, for labels and masks), 1 (linear) or 3 (B-spline).
        shape: output shape; default ``round(volume.shape * spacing / target)``.

    Returns:
        Array of ``shape``, same dtype for ``order=0``, float32 otherwise (the input itself
        when nothing changes).

    Example:
        >>> resample(np.arange(4.0).reshape(4, 1, 1), (1, 1, 1), (0.5, 1, 1)).ravel()
        array([0. , 0.5, 1. , 1.5, 2. , 2.5, 3. , 3. ], dtype=float32)
        >>> fine = np.arange(8.0).reshape(8, 1, 1)
        >>> resample(fine, (0.5, 1, 1), (1, 1, 1), shape=(4, 1, 1)).ravel()
        array([0., 2., 4., 6.], dtype=float32)
    """
    if order not in (0, 1, 3):
        raise ValueError(f"`order` must be 0, 1 or 3, got {order}")
    factors = np.asarray(spacing, float) / np.asarray(target, float)
    if shape is None:
        shape = tuple(max(round(s * f), 1) for s, f in zip(volume.shape, factors, strict=True))
    shape = tuple(int(s) for s in shape)
    if len(shape) != volume.ndim or min(shape) < 1:
        raise ValueError(f"`shape` must be {volume.ndim} positive sizes, got {shape}")
    if np.allclose(factors, 1) and shape == volume.shape:
        return volume if order == 0 else volume.astype(np.float32, copy=False)
    source = volume if order == 0 else volume.astype(np.float32)
    out = ndimage.affine_transform(
        source, 1 / factors, output_shape=shape, order=order, mode="nearest", prefilter=order > 1
    )
    return out


def threshold_brain_mask(image: np.ndarray) -> np.ndarray:
    """A simple brain mask for skull-stripped FLAIR: voxels above 10% of the 99th percentile,
    holes filled, largest component kept.

    Example:
        >>> img = np.zeros((9, 9, 9)); img[2:7, 2:7, 2:7] = 1.0; img[4, 4, 4] = 0.0
        >>> int(threshold_brain_mask(img).sum())
        125
    """
    threshold = 0.1 * float(np.percentile(image, 99))
    mask = ndimage.binary_fill_holes(image > threshold)
    labels, n = ndimage.label(mask)
    if n > 1:
        mask = labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    return mask


def crop_box(mask: np.ndarray, margin: int = 4) -> tuple[slice, slice, slice]:
    """Bounding box of ``mask`` grown by ``margin`` voxels (clipped to the volume); the whole
    volume when the mask is empty.

    Example:
        >>> m = np.zeros((10, 10, 10), bool); m[4:6, 4:6, 4:6] = True
        >>> crop_box(m, margin=1)
        (slice(3, 7, None), slice(3, 7, None), slice(3, 7, None))
    """
    box = bounding_box(mask, margin)
    if box is None:
        return (slice(0, mask.shape[0]), slice(0, mask.shape[1]), slice(0, mask.shape[2]))
    return box  # type: ignore[return-value]


def zscore(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Normalise to zero mean and unit variance inside ``mask``; 0 outside.

    Example:
        >>> z = zscore(np.array([[[1.0, 3.0, 9.0]]]), np.array([[[True, True, False]]]))
        >>> z.ravel().tolist()
        [-1.0, 1.0, 0.0]
    """
    values = image[mask]
    if values.size == 0:
        raise ValueError("z-score needs a non-empty brain mask")
    std = float(values.std()) or 1.0
    return np.where(mask, (image - float(values.mean())) / std, 0).astype(np.float32)


def network_input(baseline: np.ndarray, followup: np.ndarray) -> np.ndarray:
    """The network's three channels: baseline, follow-up, follow-up minus baseline.

    Returns:
        float32 array (3, x, y, z).

    Example:
        >>> network_input(np.zeros((2, 2, 2)), np.ones((2, 2, 2)))[2].max()
        np.float32(1.0)
    """
    return np.stack([baseline, followup, followup - baseline]).astype(np.float32)


@dataclass
class PreparedCase:
    """A case ready for patches and inference.

    Attributes:
        case_id: the folder's name.
        image: float32 (channels, x, y, z) network input inside the crop: baseline, follow-up
            and their difference for a longitudinal case (see :func:`prepare_case`).
        label: uint8 (x, y, z) new-lesion mask inside the crop.
        brain_mask: bool (x, y, z).
        spacing: voxel size (mm) after resampling.
        box: the crop inside the resampled volume.
        shape: shape of the resampled (uncropped) volume.
        native_label: the case's own new-lesion mask, bool, on its own grid (what predictions
            are scored against after :func:`to_native`).
        native_spacing: the case's own voxel size (mm).
        affine: the case's own voxel-to-world matrix (predictions are saved with it).
        native_brain: bool (x, y, z) the brain mask on the case's own grid (calibration is
            scored inside it).
        tissue: the case's tissue map on its own grid, or ``None`` without one.
    """

    case_id: str
    image: np.ndarray
    label: np.ndarray
    brain_mask: np.ndarray
    spacing: tuple[float, float, float]
    box: tuple[slice, slice, slice]
    shape: tuple[int, int, int]
    native_label: np.ndarray
    native_spacing: tuple[float, float, float]
    affine: np.ndarray
    native_brain: np.ndarray
    tissue: np.ndarray | None = None

    @functools.cached_property
    def native_regions(self) -> np.ndarray | None:
        """The location class of each voxel on the case's own grid
        (:func:`lossbench.data.locations.location_map`), or ``None`` without a tissue map;
        made on first use, so only the cases that are scored pay for it."""
        return None if self.tissue is None else location_map(self.tissue, self.native_spacing)


def prepare_case(
    case: Case,
    target_spacing: Sequence[float] | None = None,
    margin: int = 4,
    image_order: int = 1,
    difference: bool = True,
) -> PreparedCase:
    """Resample (images with spline order ``image_order``: 1 linear, 3 B-spline; masks
    nearest), mask the brain (the case's own mask, or
    :func:`threshold_brain_mask` of the follow-up, the last channel), crop to the brain plus
    ``margin`` voxels, z-score each scan inside the brain and stack the network input: baseline,
    follow-up and, when ``difference``, their difference (:func:`network_input`); or the
    ``images`` of a case that has them, in their order.

    Example:
        >>> from lossbench.data.synthetic import generate_case
        >>> c = generate_case(1, shape=(32, 40, 32))
        >>> case = Case("c", c.baseline, c.followup, c.label, c.brain_mask, c.spacing, c.affine)
        >>> p = prepare_case(case, target_spacing=(2.0, 2.0, 2.0))
        >>> p.image.shape[0], p.spacing
        (3, (2.0, 2.0, 2.0))
    """
    spacing = tuple(float(s) for s in case.spacing)
    target = spacing if target_spacing is None else tuple(float(t) for t in target_spacing)
    if len(target) != 3 or min(target) <= 0:
        raise ValueError(f"`target_spacing` must be 3 positive sizes (mm), got {target_spacing}")
    if image_order not in (1, 3):
        raise ValueError(f"`image_order` must be 1 (linear) or 3 (B-spline), got {image_order}")
    scans = [
        resample(v, spacing, target, order=image_order)
        for v in (case.images or (case.baseline, case.followup))
    ]
    label = resample(case.label, spacing, target, order=0)
    if case.brain_mask is not None:
        brain = resample(case.brain_mask, spacing, target, order=0).astype(bool)
    else:
        brain = threshold_brain_mask(scans[-1])
    box = crop_box(brain, margin)
    brain_c = brain[box]
    scored = [zscore(v[box], brain_c) for v in scans]
    if not case.images and difference:
        image = network_input(*scored)
    else:
        image = np.stack(scored).astype(np.float32)
    return PreparedCase(
        case_id=case.case_id,
        image=image,
        label=label[box].astype(np.uint8),
        brain_mask=brain_c,
        spacing=target,
        box=box,
        shape=scans[0].shape,
        native_label=case.label.astype(bool),
        native_spacing=spacing,  # type: ignore[arg-type]
        affine=case.affine,
        native_brain=_native_brain(case, brain, target),
        tissue=case.tissue,
    )


def _native_brain(case: Case, brain: np.ndarray, target: Sequence[float]) -> np.ndarray:
    """The case's own brain mask, or the one found at ``target`` spacing put on its grid."""
    if case.brain_mask is not None:
        return case.brain_mask.astype(bool)
    return resample(brain, target, case.spacing, order=0, shape=case.label.shape)


def to_native(volume: np.ndarray, case: PreparedCase, order: int = 1) -> np.ndarray:
    """Put a volume of the prepared crop back on the case's own grid: zeros outside the crop,
    then resampling from ``case.spacing`` to ``case.native_spacing`` (the inverse mapping of
    :func:`prepare_case`; the identity when the case was not resampled).

    Args:
        volume: array of the crop's shape, ``case.image.shape[1:]`` (e.g. a probability map).
        case: the prepared case it belongs to.
        order: 1 (linear, for probabilities: threshold afterwards, as nnU-Net does) or 0
            (nearest, for masks).

    Returns:
        Array of the native shape ``case.native_label.shape``; float32 for ``order=1``.

    Example:
        >>> from lossbench.data.synthetic import generate_case
        >>> c = generate_case(1, shape=(32, 40, 32))
        >>> case = Case("c", c.baseline, c.followup, c.label, c.brain_mask, c.spacing, c.affine)
        >>> p = prepare_case(case, target_spacing=(0.5, 0.5, 0.5))
        >>> back = to_native(p.label, p, order=0)
        >>> back.shape, bool((back == c.label).all())
        ((32, 40, 32), True)
    """
    if volume.shape != case.label.shape:
        raise ValueError(
            f"{case.case_id}: volume of shape {volume.shape} does not match the prepared crop "
            f"{case.label.shape}"
        )
    full = np.zeros(case.shape, volume.dtype)
    full[case.box] = volume
    return resample(
        full, case.spacing, case.native_spacing, order=order, shape=case.native_label.shape
    )
