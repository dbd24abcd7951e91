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
from scipy import ndimage

__all__ = ["augment", "sample_batch", "sample_patch"]


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
        image = ndimage.rotate(image, degrees, axes=(1, 2), reshape=False, order=1, mode="nearest")
        label = ndimage.rotate(label, degrees, axes=(0, 1), reshape=False, order=0, mode="constant")
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


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
