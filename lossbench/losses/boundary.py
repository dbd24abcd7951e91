"""Boundary-based losses: distance maps weight the voxel-wise error.

Distance maps are computed without gradient, per case, in voxel units (a loss does not know the
spacing), on the masks' device by :func:`lossbench.losses.distance.distance_transform`: scipy
for CPU tensors, an exact torch transform for GPU tensors, with the same values, and no
transfer or synchronisation between host and device. A mask with no boundary (empty, or all
lesion) has a zero distance map. The maps of the target can be computed ahead of the loss, see
:meth:`lossbench.losses.Loss.target_maps`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import torch
from torch import Tensor

from lossbench.losses._core import (
    SMOOTH,
    Fraction,
    Interval,
    Loss,
    NonNegative,
    TargetMaps,
    unit_mean,
)
from lossbench.losses.distance import distance_transform
from lossbench.losses.region import generalized_dice_loss
from lossbench.losses.registry import builtin_loss

if TYPE_CHECKING:

    def __getattr__(name: str) -> type[Loss]: ...  # the classes made by builtin_loss


def _inside_outside(masks: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`distance_transform` of ``masks`` and of ``~masks``, in one call."""
    inside, outside = distance_transform(torch.cat((masks, ~masks))).tensor_split(2)
    return inside, outside


def _where_both_classes(masks: Tensor, maps: Tensor) -> Tensor:
    """``maps`` in the cases of ``masks`` (B, *spatial) that have both classes, 0 in the others.

    Decided on the device, so that the host never waits for it.
    """
    flat = masks.flatten(1)
    both = (flat.any(1) & ~flat.all(1)).view(-1, *[1] * (masks.ndim - 1))
    return torch.where(both, maps, 0.0)


def distance_to_boundary(masks: Tensor) -> Tensor:
    """Distance (voxels) from each voxel to the nearest voxel of the other class, per case.

    Args:
        masks: boolean (B, *spatial).

    Returns:
        float64 tensor (B, *spatial) on the masks' device, >= 1 everywhere when the case has both
        classes, all 0 otherwise.

    Example:
        >>> distance_to_boundary(torch.tensor([[True, False, False]]))
        tensor([[1., 1., 2.]], dtype=torch.float64)
    """
    inside, outside = _inside_outside(masks)
    return _where_both_classes(masks, inside + outside)


def signed_distance(masks: Tensor) -> Tensor:
    """Kervadec et al.'s level-set map of each case (voxels): ``d_out`` outside the mask, the
    distance to the nearest mask voxel, and ``-(d_in - 1)`` inside, ``d_in`` the distance to the
    nearest voxel outside.

    The mask's own boundary voxels get 0, as in the authors' ``one_hot2dist`` and MONAI's
    ``BoundaryLoss``: a lesion of one or two voxels is all boundary, so its map is 0 inside.

    Args:
        masks: boolean (B, *spatial).

    Returns:
        float64 tensor (B, *spatial) on the masks' device; ``phi >= 1`` outside the mask,
        ``phi <= 0`` inside, where the case has both classes; all 0 otherwise.

    Example:
        >>> signed_distance(torch.tensor([[True, True, True, False, False]]))
        tensor([[-2., -1.,  0.,  1.,  2.]], dtype=torch.float64)
    """
    inside, outside = _inside_outside(masks)
    return _where_both_classes(masks, outside - inside + masks)


REGION_FLOOR = 0.1
"""Smallest weight of the region term in Kervadec et al.'s schedule (their ``StealWeight``)."""

AtLeastOne = Annotated[float, Interval(1.0)]


def boundary_schedule(progress: float, epochs: float = 100) -> tuple[float, float]:
    """Weights ``(region, boundary)`` of the boundary loss after a fraction of training.

    Kervadec et al. start from weights 1 (generalised Dice) and 0.01 (boundary term) and, after
    each epoch, move 0.01 from the first to the second, keeping the first at 0.1 or more (their
    ``StealWeight(to_steal=0.01)`` scheduler). During epoch ``e`` (0-based) the weights are
    ``max(0.1, 1 - 0.01 e)`` and ``0.01 (e + 1)``. Training progress maps onto ``epochs`` such
    epochs: ``e = min(floor(progress * epochs), ceil(epochs) - 1)``.

    Args:
        progress: fraction of the training iterations done, in [0, 1].
        epochs: number of the authors' epochs that the whole training stands for (>= 1); their
            runs had 100, which ends at weights 0.1 and 1.0.

    Returns:
        ``(region_weight, boundary_weight)``, unitless.

    Raises:
        ValueError: ``progress`` outside [0, 1] or ``epochs`` below 1.

    Example:
        >>> [boundary_schedule(t) for t in (0.0, 0.5, 1.0)]
        [(1.0, 0.01), (0.5, 0.51), (0.1, 1.0)]
    """
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"boundary_schedule: `progress` must be in [0, 1], got {progress!r}")
    if not epochs >= 1.0:
        raise ValueError(f"boundary_schedule: `epochs` must be >= 1, got {epochs!r}")
    epoch = min(math.floor(progress * epochs), math.ceil(epochs) - 1)
    return max(REGION_FLOOR, (100 - epoch) / 100), (epoch + 1) / 100


@builtin_loss(
    "hausdorff_dt",
    "HausdorffDTLoss",
    family="boundary",
    citation="Karimi, Salcudean. Reducing the Hausdorff distance in medical image segmentation "
    "with convolutional neural networks. IEEE TMI 2019",
    maps={"distance_to_boundary": distance_to_boundary},
)
def hausdorff_dt_loss(
    z: Tensor, y: Tensor, pooled: bool, *, alpha: NonNegative = 2.0, target_maps: TargetMaps
) -> Tensor:
    """Distance-transform Hausdorff loss: ``mean((p - y)^2 (d_y^alpha + d_p^alpha))``.

    ``d_y`` and ``d_p`` are :func:`distance_to_boundary` of the target (thresholded at 0.5) and
    of the thresholded prediction (p > 0.5, tested as z > 0 so that float32 and float64 agree
    where sigmoid rounds to 0.5), without gradient. ``d_y`` is the target map
    ``"distance_to_boundary"`` (see :meth:`lossbench.losses.Loss.target_maps`).

    Args:
        logits: (B, C, *spatial) raw outputs, C = 1 (sigmoid) or 2 (softmax).
        target: (B, 1, *spatial) or (B, *spatial) in [0, 1] (thresholded at 0.5 for ``d_y``).
        target_maps: optional ``{"distance_to_boundary": d_y}``, made of ``target`` by the
            loss's ``target_maps`` and moved to the logits' device; computed when not given.
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
        d_y = target_maps["distance_to_boundary"]
        field = d_y**alpha + distance_to_boundary(z > 0) ** alpha
    return unit_mean((p - y) ** 2 * field.to(z), pooled)


@builtin_loss(
    "log_hausdorff_dt",
    "LogHausdorffDTLoss",
    family="boundary",
    citation="Karimi, Salcudean. Reducing the Hausdorff distance in medical image segmentation "
    "with convolutional neural networks. IEEE TMI 2019; log form as MONAI's LogHausdorffDTLoss",
    maps={"distance_to_boundary": distance_to_boundary},
)
def log_hausdorff_dt_loss(
    z: Tensor, y: Tensor, pooled: bool, *, alpha: NonNegative = 2.0, target_maps: TargetMaps
) -> Tensor:
    """Log distance-transform Hausdorff loss: ``log(1 + hausdorff_dt)``, MONAI's
    ``LogHausdorffDTLoss``.

    The logarithm tames the distance-transform loss, whose values grow as distance^alpha (tens
    to thousands of voxels^alpha early in training), to the scale of the region losses; its
    gradient is :func:`hausdorff_dt_loss`'s divided by ``1 + hausdorff_dt``. With
    ``batch=False`` the loss is the mean of the per-case losses, as for every lossbench loss,
    where MONAI's takes the log of the mean over cases.

    Args:
        logits, target, target_maps, alpha, batch, reduction: as :func:`hausdorff_dt_loss`.

    Returns:
        Scalar or (B,) per-case losses, in log(1 + voxels^alpha).

    Example:
        >>> z = torch.tensor([-4.0, 4.0, 4.0]).view(1, 1, 3)
        >>> round(log_hausdorff_dt_loss(z, torch.tensor([[[1.0, 1.0, 0.0]]])).item(), 4)
        1.4386
    """
    distance = hausdorff_dt_loss.term(z, y, pooled, alpha=alpha, target_maps=target_maps)
    return torch.log1p(distance)


@builtin_loss(
    "boundary",
    "BoundaryLoss",
    family="boundary",
    citation="Kervadec, Bouchtiba, Desrosiers, Granger, Dolz, Ben Ayed. Boundary loss for highly "
    "unbalanced segmentation. MIDL 2019 / MedIA 2021",
    maps={"signed_distance": signed_distance},
)
def boundary_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    epochs: AtLeastOne = 100,
    progress: Fraction = 0.0,
    smooth: NonNegative = SMOOTH,
    target_maps: TargetMaps,
) -> Tensor:
    """Boundary loss with its authors' rebalancing: ``w_R * GDL + alpha * mean(phi p)``.

    ``GDL`` is :func:`lossbench.losses.generalized_dice_loss` (both classes), the regional term
    of Kervadec et al.'s experiments. ``mean(phi p)`` is their boundary term: ``phi`` is
    :func:`signed_distance` of the target thresholded at 0.5 (voxels; negative inside the lesion,
    0 on its inner boundary, positive outside), the target map ``"signed_distance"`` (see
    :meth:`lossbench.losses.Loss.target_maps`), averaged over the voxels of each unit. The term
    is negative for a good prediction of a lesion thicker than two voxels, so the loss's minimum
    is below 0; for a target without boundary (empty or all lesion) ``phi = 0`` and the GDL
    alone remains. ``(w_R, alpha) = boundary_schedule(progress, epochs)``: 1 and 0.01 at the
    start of training, 0.5 and 0.51 half-way and 0.1 and 1.0 at the end with the default
    ``epochs``.

    The trainer sets ``progress`` before each step through ``set_progress`` (see
    :class:`lossbench.losses.Loss`); the default 0 holds the start-of-training weights wherever
    nobody reports progress.

    Args:
        logits, target: as :func:`hausdorff_dt_loss`.
        target_maps: optional ``{"signed_distance": phi}``, made of ``target`` by the loss's
            ``target_maps`` and moved to the logits' device; computed when not given.
        epochs: number of the authors' epochs the training stands for (see
            :func:`boundary_schedule`).
        progress: fraction of the training iterations done, in [0, 1].
        smooth: as :func:`lossbench.losses.generalized_dice_loss`.
        batch, reduction: see :func:`lossbench.losses.create_loss`.

    Returns:
        Scalar or (B,) per-case losses; the boundary term is in voxels.

    Example:
        >>> z = torch.tensor([4.0, -4.0, 4.0]).view(1, 1, 3)
        >>> y = torch.tensor([[[1.0, 0.0, 0.0]]])
        >>> round(boundary_loss(z, y, smooth=0.0).item(), 4)
        0.3472
        >>> round(boundary_loss(z, y, smooth=0.0, progress=1.0).item(), 4)
        0.6947
    """
    region_weight, boundary_weight = boundary_schedule(progress, epochs)
    phi = target_maps["signed_distance"].to(z)
    level_set = unit_mean(phi * torch.sigmoid(z), pooled)
    region = generalized_dice_loss.term(z, y, pooled, smooth=smooth)
    return region_weight * region + boundary_weight * level_set
