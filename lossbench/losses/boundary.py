"""Boundary-based losses: distance maps weight the voxel-wise error.

Distance maps are computed without gradient, once per call and per case, on the CPU with
``scipy.ndimage.distance_transform_edt``, in voxel units (a loss does not know the spacing).
A mask with no boundary (empty, or all lesion) has a zero distance map.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from lossbench.losses._core import SMOOTH, Loss, NonNegative, unit_mean
from lossbench.losses.region import dice_loss
from lossbench.losses.registry import builtin_loss

if TYPE_CHECKING:

    def __getattr__(name: str) -> type[Loss]: ...  # the classes made by builtin_loss


def _per_case(masks: Tensor, fn: Callable[[np.ndarray], np.ndarray]) -> Tensor:
    """Apply a numpy map to each case of a boolean (B, *spatial) tensor; same shape, float64."""
    arrays = masks.detach().cpu().numpy()
    out = np.zeros(arrays.shape, dtype=np.float64)
    for i, mask in enumerate(arrays):
        if mask.any() and not mask.all():
            out[i] = fn(mask)
    return torch.from_numpy(out)


def distance_to_boundary(masks: Tensor) -> Tensor:
    """Distance (voxels) from each voxel to the nearest voxel of the other class, per case.

    Args:
        masks: boolean (B, *spatial).

    Returns:
        float64 CPU tensor (B, *spatial), >= 1 everywhere when the case has both classes, all 0
        otherwise.

    Example:
        >>> distance_to_boundary(torch.tensor([[True, False, False]]))
        tensor([[1., 1., 2.]], dtype=torch.float64)
    """
    return _per_case(
        masks, lambda m: ndimage.distance_transform_edt(m) + ndimage.distance_transform_edt(~m)
    )


def signed_distance(masks: Tensor) -> Tensor:
    """Signed distance map: minus the distance to the background inside, plus the distance to
    the mask outside (voxels), per case.

    Args:
        masks: boolean (B, *spatial).

    Returns:
        float64 CPU tensor (B, *spatial); ``|phi| >= 1`` where the case has both classes, all 0
        otherwise.

    Example:
        >>> signed_distance(torch.tensor([[True, True, False, False]]))
        tensor([[-2., -1.,  1.,  2.]], dtype=torch.float64)
    """
    return _per_case(
        masks, lambda m: ndimage.distance_transform_edt(~m) - ndimage.distance_transform_edt(m)
    )


@builtin_loss(
    "hausdorff_dt",
    "HausdorffDTLoss",
    family="boundary",
    citation="Karimi, Salcudean. Reducing the Hausdorff distance in medical image segmentation "
    "with convolutional neural networks. IEEE TMI 2019",
)
def hausdorff_dt_loss(z: Tensor, y: Tensor, pooled: bool, *, alpha: NonNegative = 2.0) -> Tensor:
    """Distance-transform Hausdorff loss: ``mean((p - y)^2 (d_y^alpha + d_p^alpha))``.

    ``d_y`` and ``d_p`` are :func:`distance_to_boundary` of the target and of the thresholded
    prediction (p > 0.5, tested as z > 0 so that float32 and float64 agree where sigmoid rounds
    to 0.5), without gradient.

    Args:
        logits: (B, C, *spatial) raw outputs, C = 1 (sigmoid) or 2 (softmax).
        target: (B, 1, *spatial) or (B, *spatial) in [0, 1] (thresholded at 0.5 for ``d_y``).
        alpha: exponent of the distances.
        batch, reduction: see :func:`lossbench.losses.create_loss`.

    Returns:
        Scalar or (B,) per-case losses, in voxels^alpha.

    Example:
        >>> z = torch.tensor([-4.0, 4.0, 4.0]).view(1, 1, 3)
        >>> round(hausdorff_dt_loss(z, torch.tensor([[[1.0, 1.0, 0.0]]])).item(), 4)
        3.2147
    """
    p = torch.sigmoid(z)
    with torch.no_grad():
        field = distance_to_boundary(y > 0.5) ** alpha + distance_to_boundary(z > 0) ** alpha
    return unit_mean((p - y) ** 2 * field.to(z), pooled)


@builtin_loss(
    "boundary",
    "BoundaryLoss",
    family="boundary",
    citation="Kervadec, Bouchtiba, Desrosiers, Granger, Dolz, Ben Ayed. Boundary loss for highly "
    "unbalanced segmentation. MIDL 2019 / MedIA 2021",
)
def boundary_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    lambda_dice: NonNegative = 1.0,
    lambda_boundary: NonNegative = 0.01,
    smooth: NonNegative = SMOOTH,
) -> Tensor:
    """Dice plus the boundary loss: ``lambda_dice * dice + lambda_boundary * mean(phi (p - y))``.

    ``phi`` is :func:`signed_distance` of the target (negative inside). This shifted form of the
    boundary term has the same gradient as Kervadec et al.'s ``mean(phi p)`` and is 0 at the
    optimum; it is computed as ``mean(|phi| |p - y|)``, equal for binary targets and never
    negative for soft ones. A target without boundary (empty or all lesion) has ``phi = 0``: the
    boundary term vanishes and the Dice term alone drives the prediction.

    Args:
        logits, target: as :func:`hausdorff_dt_loss`.
        lambda_dice, lambda_boundary: weights of the two terms.
        smooth: as :func:`lossbench.losses.dice_loss`.
        batch, reduction: see :func:`lossbench.losses.create_loss`.

    Returns:
        Scalar or (B,) per-case losses.

    Example:
        >>> z = torch.tensor([4.0, -4.0, 4.0]).view(1, 1, 3)
        >>> round(boundary_loss(z, torch.tensor([[[1.0, 0.0, 0.0]]]), smooth=0.0).item(), 4)
        0.348
    """
    with torch.no_grad():
        phi = signed_distance(y > 0.5).abs().to(z)
    boundary = unit_mean(phi * (torch.sigmoid(z) - y).abs(), pooled)
    return lambda_dice * dice_loss.term(z, y, pooled, smooth=smooth) + lambda_boundary * boundary
