"""The study's lesion-aware patch sampler and its augmentations.

When a case has new lesions, a patch is centred on one of its lesion voxels chosen at random and
shifted by up to ``max_shift`` voxels per axis, clamped inside the volume; otherwise it is drawn
uniformly. Volumes smaller than the patch are zero-padded. Augmentations act in the axial plane
(the first two array axes): a random multiple of 90 degrees, a random flip and a small rotation.
One ``numpy.random.Generator`` drives every draw, so a seed fixes the whole sequence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["augment", "rotate_axial", "sample_batch", "sample_patch"]


def _pad_to(array: np.ndarray, size: Sequence[int]) -> np.ndarray:
    spatial = array.shape[-3:]
    pad = [(0, max(p - s, 0)) for s, p in zip(spatial, size, strict=True)]
    if not any(after for _, after in pad):
        return array
    return np.pad(array, [(0, 0)] * (array.ndim - 3) + pad)


def sample_patch(
    image: np.ndarray,
    label: np.ndarray,
    size: Sequence[int],
    rng: np.random.Generator,
    max_shift: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """One patch of ``image`` (C, x, y, z) and ``label`` (x, y, z).

    Args:
        image: float array (C, x, y, z).
        label: binary array (x, y, z).
        size: patch size (3 ints).
        rng: the generator that drives the draw.
        max_shift: largest shift (voxels, per axis) of the centre away from the lesion voxel.

    Returns:
        ``(image_patch (C, *size), label_patch (*size))``.

    Example:
        >>> img, lab = np.zeros((3, 20, 20, 20), np.float32), np.zeros((20, 20, 20), np.uint8)
        >>> lab[5, 5, 5] = 1
        >>> p, l = sample_patch(img, lab, (8, 8, 8), np.random.default_rng(0), max_shift=2)
        >>> p.shape, int(l.sum())
        ((3, 8, 8, 8), 1)
    """
    if len(size) != 3 or min(size) < 1:
        raise ValueError(f"`size` must be 3 positive ints, got {size}")
    if image.shape[-3:] != label.shape:
        raise ValueError(f"image {image.shape} and label {label.shape} differ in spatial shape")
    image, label = _pad_to(image, size), _pad_to(label, size)
    shape = np.asarray(label.shape)
    patch = np.asarray(size)
    lesion = np.flatnonzero(label)
    if lesion.size:
        centre = np.asarray(np.unravel_index(lesion[rng.integers(lesion.size)], label.shape))
        centre = centre + rng.integers(-max_shift, max_shift, size=3, endpoint=True)
        start = np.clip(centre - patch // 2, 0, shape - patch)
    else:
        start = np.array(
            [rng.integers(0, s - p, endpoint=True) for s, p in zip(shape, patch, strict=True)]
        )
    box = tuple(slice(int(a), int(a + p)) for a, p in zip(start, patch, strict=True))
    return image[(slice(None),) + box], label[box]  # noqa: RUF005 (Python 3.10 syntax)


def augment(
    image: np.ndarray,
    label: np.ndarray,
    rng: np.random.Generator,
    max_angle_deg: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Random 90-degree rotation, flip and small rotation, all in the axial plane.

    The small rotation is linear for the image and nearest for the label; both keep their shape.
    The same number of random draws is made whatever the outcome, so sequences stay aligned.

    Example:
        >>> img = np.arange(2 * 4 * 4 * 1, dtype=np.float32).reshape(2, 4, 4, 1)
        >>> a, b = augment(img, (img[0] > 7).astype(np.uint8), np.random.default_rng(0), 0.0)
        >>> sorted(a[0].ravel().tolist()) == sorted(img[0].ravel().tolist()), int(b.sum())
        (True, 8)
    """
    turns, flip, angle = int(rng.integers(4)), bool(rng.integers(2)), rng.uniform(-1, 1)
    image = np.rot90(image, turns, axes=(1, 2))
    label = np.rot90(label, turns, axes=(0, 1))
    if flip:
        image, label = image[:, ::-1], label[::-1]
    degrees = angle * max_angle_deg
    if abs(degrees) > 1e-3 and image.shape[1] == image.shape[2]:
        return rotate_axial(image, label, degrees)
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


def rotate_axial(
    image: np.ndarray, label: np.ndarray, degrees: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate ``image`` (C, x, y, z) and ``label`` (x, y, z) by ``degrees`` about the centre of
    the axial plane (the x, y axes), keeping their shape.

    Output voxel ``o`` of each plane samples the input at ``R (o - c) + c``, ``c`` the plane's
    centre and ``R = [[cos, sin], [-sin, cos]]`` (the convention of ``scipy.ndimage.rotate``).
    The image is interpolated bilinearly, a sample beyond the edge taking the nearest edge
    value; the label takes its nearest voxel (ties rounded up), 0 beyond the edge. The sample
    positions are computed once per plane and shared by every channel and slice, so a patch
    costs a few gathers instead of one spline interpolation per plane.

    Example:
        >>> img = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
        >>> a, b = rotate_axial(img, (img[0] > 3).astype(np.uint8), 90.0)
        >>> a[0, :, :, 0].round(3).tolist(), int(b.sum())
        ([[2.0, 5.0, 8.0], [1.0, 4.0, 7.0], [0.0, 3.0, 6.0]], 5)
    """
    nx, ny = label.shape[:2]
    t = np.deg2rad(degrees)
    cos, sin = np.cos(t), np.sin(t)
    ox, oy = np.meshgrid(np.arange(nx) - (nx - 1) / 2, np.arange(ny) - (ny - 1) / 2, indexing="ij")
    sx = cos * ox + sin * oy + (nx - 1) / 2
    sy = -sin * ox + cos * oy + (ny - 1) / 2
    # label: nearest voxel, outside the plane -> 0
    rx, ry = np.floor(sx + 0.5).astype(np.intp), np.floor(sy + 0.5).astype(np.intp)
    inside = (rx >= 0) & (rx < nx) & (ry >= 0) & (ry < ny)
    rotated_label = label[np.clip(rx, 0, nx - 1), np.clip(ry, 0, ny - 1)]
    rotated_label[~inside] = 0
    # image: bilinear between the four neighbours, positions clamped to the plane
    sx, sy = np.clip(sx, 0, nx - 1), np.clip(sy, 0, ny - 1)
    x0 = np.minimum(np.floor(sx).astype(np.intp), max(nx - 2, 0))
    y0 = np.minimum(np.floor(sy).astype(np.intp), max(ny - 2, 0))
    x1, y1 = np.minimum(x0 + 1, nx - 1), np.minimum(y0 + 1, ny - 1)
    fx = (sx - x0).astype(image.dtype)[:, :, None]
    fy = (sy - y0).astype(image.dtype)[:, :, None]
    rotated = (image[:, x0, y0] * (1 - fy) + image[:, x0, y1] * fy) * (1 - fx) + (
        image[:, x1, y0] * (1 - fy) + image[:, x1, y1] * fy
    ) * fx
    return np.ascontiguousarray(rotated), np.ascontiguousarray(rotated_label)


def sample_batch(
    cases: Sequence[tuple[np.ndarray, np.ndarray]],
    batch_size: int,
    size: Sequence[int],
    rng: np.random.Generator,
    max_shift: int = 10,
    max_angle_deg: float = 10.0,
    augmentation: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """A training batch: cases drawn uniformly, one lesion-aware, augmented patch each.

    Args:
        cases: ``(image (C, x, y, z), label (x, y, z))`` pairs.
        batch_size: number of patches.
        size: patch size.
        rng: the generator that drives every draw.
        max_shift, max_angle_deg: as :func:`sample_patch` and :func:`augment`.
        augmentation: apply :func:`augment` (square axial patches only rotate by small angles).

    Returns:
        ``(images (B, C, *size) float32, labels (B, 1, *size) float32)``.

    Example:
        >>> img, lab = np.zeros((3, 12, 12, 12), np.float32), np.zeros((12, 12, 12), np.uint8)
        >>> x, y = sample_batch([(img, lab)], 2, (8, 8, 8), np.random.default_rng(0))
        >>> x.shape, y.shape
        ((2, 3, 8, 8, 8), (2, 1, 8, 8, 8))
    """
    if not cases:
        raise ValueError("sample_batch needs at least one case")
    images, labels = [], []
    for _ in range(batch_size):
        image, label = cases[int(rng.integers(len(cases)))]
        patch, target = sample_patch(image, label, size, rng, max_shift)
        if augmentation:
            patch, target = augment(patch, target, rng, max_angle_deg)
        images.append(patch)
        labels.append(target)
    return np.stack(images).astype(np.float32), np.stack(labels)[:, None].astype(np.float32)
