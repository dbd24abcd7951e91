"""Exact Euclidean distance transforms of boolean masks, computed on the masks' device.

The squared Euclidean distance transform is separable (Saito and Toriwaki, 1994): starting from
``f = 0`` on False voxels and ``f = inf`` on True voxels, one pass per axis replaces every line
``f`` of that axis by ``g(x) = min_i f(i) + (x - i)^2``. :func:`edt` runs these passes in torch,
batched over all lines and in int32, so the squared distances are exact integers and their
correctly rounded float64 square roots are the values ``scipy.ndimage.distance_transform_edt``
returns.
:func:`distance_transform` uses scipy for CPU tensors, where it is faster, and :func:`edt` on any
other device, so a CUDA tensor never leaves the device and the host never waits for it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

__all__ = ["distance_transform", "edt"]

_FAR = 1 << 30
"""Squared distance standing for "no False voxel found yet". Every squared distance of an accepted
shape is smaller, and ``_FAR`` plus one axis's largest ``(x - i)^2`` still fits in int32."""


def _check_masks(owner: str, masks: Tensor) -> None:
    if not isinstance(masks, Tensor) or masks.dtype is not torch.bool:
        got = f"dtype {masks.dtype}" if isinstance(masks, Tensor) else type(masks).__name__
        raise TypeError(f"{owner}: `masks` must be a boolean tensor, got {got}")
    if masks.ndim < 2:
        raise ValueError(
            f"{owner}: `masks` must have shape (B, *spatial), got {tuple(masks.shape)}"
        )
    if sum((n - 1) ** 2 for n in masks.shape[1:]) >= _FAR:
        raise ValueError(
            f"{owner}: the squared diagonal of a case must stay below 2^30 voxels^2, got "
            f"spatial shape {tuple(masks.shape[1:])}"
        )


def _lower_envelope(squared: Tensor, axis: int, chunk_elements: int) -> Tensor:
    """``g(x) = min_i f(i) + (x - i)^2`` along ``axis`` of the int32 tensor ``squared``.

    The candidates of ``chunk_elements // n^2`` lines at a time (at least one) are formed at once.
    """
    n = squared.shape[axis]
    if n == 1:
        return squared
    lines = squared.movedim(axis, -1)
    shape = lines.shape
    lines = lines.reshape(-1, n)
    offsets = torch.arange(n, dtype=torch.int32, device=squared.device)
    parabolas = (offsets[:, None] - offsets).square()  # [x, i] = (x - i)^2
    out = torch.empty_like(lines)
    step = max(1, chunk_elements // (n * n))
    for start in range(0, lines.shape[0], step):
        candidates = lines[start : start + step, None, :] + parabolas
        torch.amin(candidates, dim=-1, out=out[start : start + step])
    return out.clamp_max_(_FAR).reshape(shape).movedim(-1, axis)


def edt(masks: Tensor, *, chunk_elements: int = 1 << 24) -> Tensor:
    """Euclidean distance (voxels) from each True voxel to the nearest False voxel of its case.

    Computed in torch on the masks' device, with no transfer to the host and no synchronisation:
    one exact pass per spatial axis (see the module's docstring). Each pass adds
    ``masks.numel() * n`` integer candidates for an axis of length ``n``.

    Args:
        masks: boolean (B, *spatial), one or more spatial axes; each case is transformed on its
            own. The squared diagonal of a case, ``sum((n - 1)^2)`` over its axes, must stay below
            2^30 (3D cases up to about 18,000 voxels a side).
        chunk_elements: most candidates formed at once (each 4 bytes), which bounds the extra
            memory of a pass; at least one line's ``n^2`` is always formed.

    Returns:
        float64 (B, *spatial) on the masks' device: 0 on False voxels, the distance to the nearest
        False voxel on True voxels, ``inf`` throughout a case without a False voxel. Each case with
        a False voxel equals ``scipy.ndimage.distance_transform_edt`` of it exactly.

    Raises:
        TypeError: ``masks`` is not a boolean tensor.
        ValueError: ``masks`` has fewer than two dimensions, or a case is too large.

    Example:
        >>> edt(torch.tensor([[True, True, False, True]]))
        tensor([[2., 1., 0., 1.]], dtype=torch.float64)
        >>> edt(torch.tensor([[[False, True], [True, True]]]))
        tensor([[[0.0000, 1.0000],
                 [1.0000, 1.4142]]], dtype=torch.float64)
    """
    _check_masks("edt", masks)
    if masks.numel() == 0:
        return torch.zeros(masks.shape, dtype=torch.float64, device=masks.device)
    squared = masks.to(torch.int32).mul_(_FAR)
    for axis in range(1, masks.ndim):
        squared = _lower_envelope(squared, axis, chunk_elements)
    distances = squared.to(torch.float64)
    if distances.device.type == "cpu":  # torch's CPU kernel (MKL) may miss by one ulp
        np.sqrt(distances.numpy(), out=distances.numpy())
    else:  # CUDA's float64 square root is correctly rounded, as numpy's
        distances.sqrt_()
    return distances.masked_fill_(squared == _FAR, math.inf)


def distance_transform(masks: Tensor) -> Tensor:
    """:func:`edt`, computed by scipy for CPU tensors and by :func:`edt` on any other device.

    Both give the same values (see :func:`edt`); scipy is the faster on a CPU, while :func:`edt`
    keeps a GPU tensor on its device.

    Args:
        masks: boolean (B, *spatial), as :func:`edt`.

    Returns:
        float64 (B, *spatial) on the masks' device, as :func:`edt`: distances in voxels, ``inf``
        throughout a case without a False voxel.

    Example:
        >>> distance_transform(torch.tensor([[False, True, True], [True, True, True]]))
        tensor([[0., 1., 2.],
                [inf, inf, inf]], dtype=torch.float64)
    """
    _check_masks("distance_transform", masks)
    if masks.device.type != "cpu":
        return edt(masks)
    out = np.full(masks.shape, np.inf)
    for case, mask in zip(out, masks.numpy(), strict=True):
        if not mask.all():
            case[...] = ndimage.distance_transform_edt(mask)
    return torch.from_numpy(out)
