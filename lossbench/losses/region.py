"""Region-based losses: Dice, Tversky and their variants.

Notation: p = sigmoid(z), TP = sum p y, FP = sum p (1-y), FN = sum (1-p) y, sums per unit (the
whole batch with ``batch=True``, else per case), s = ``smooth`` added to numerator and denominator.
Losses written in the literature as "- index" are "1 - index" here (same gradient, 0 at best).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lossbench.losses._core import (
    SMOOTH,
    Loss,
    NonNegative,
    overlap_sums,
    safe_pow,
    unit_dot,
    unit_size,
    unit_sum,
)
from lossbench.losses.registry import builtin_loss

if TYPE_CHECKING:

    def __getattr__(name: str) -> type[Loss]: ...  # the classes made by builtin_loss


@builtin_loss(
    "dice",
    "DiceLoss",
    family="region",
    citation="Milletari, Navab, Ahmadi. V-Net: fully convolutional neural networks for volumetric "
    "medical image segmentation. 3DV 2016",
)
def dice_loss(z: Tensor, y: Tensor, pooled: bool, *, smooth: NonNegative = SMOOTH) -> Tensor:
    """Soft Dice loss: ``1 - (2TP + s) / (2TP + FP + FN + s)``.

    Args:
        logits: (B, C, *spatial) raw outputs, C = 1 (sigmoid) or 2 (softmax).
        target: (B, 1, *spatial) or (B, *spatial) in [0, 1].
        smooth: added to numerator and denominator.
        batch, reduction: see :func:`lossbench.losses.create_loss`.

    Returns:
        Scalar (``reduction="mean"``) or (B,) per-case losses, unitless in [0, 1].

    Example:
        >>> dice_loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2), smooth=0.0)
        tensor(0.3333)
    """
    return 1 - dice_index(*overlap_sums(z, y, pooled), smooth)


def dice_index(tp: Tensor, sum_p: Tensor, sum_y: Tensor, smooth: float) -> Tensor:
    """Soft Dice ``(2TP + s) / (2TP + FP + FN + s)`` from :func:`overlap_sums`' per-unit sums.

    Example:
        >>> dice_index(torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([2.0]), 0.0)
        tensor([0.5000])
    """
    return (2 * tp + smooth) / (sum_p + sum_y + smooth)


def tversky_index(
    tp: Tensor, sum_p: Tensor, sum_y: Tensor, fp_weight: float, fn_weight: float, smooth: float
) -> Tensor:
    """Tversky index ``(TP + s) / (TP + fp_weight FP + fn_weight FN + s)`` from per-unit sums.

    Example:
        >>> tp, sum_p, sum_y = torch.tensor([1.0]), torch.tensor([2.0]), torch.tensor([1.0])
        >>> tversky_index(tp, sum_p, sum_y, 0.5, 0.5, 0.0)
        tensor([0.6667])
    """
    return (tp + smooth) / (tp + fp_weight * (sum_p - tp) + fn_weight * (sum_y - tp) + smooth)


@builtin_loss(
    "tversky",
    "TverskyLoss",
    family="region",
    citation="Salehi, Erdogmus, Gholipour. Tversky loss function for image segmentation using 3D "
    "fully convolutional deep networks. MLMI 2017",
)
def tversky_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    fp_weight: NonNegative = 0.3,
    fn_weight: NonNegative = 0.7,
    smooth: NonNegative = SMOOTH,
) -> Tensor:
    """Tversky loss: ``1 - (TP + s) / (TP + fp_weight FP + fn_weight FN + s)``.

    ``fp_weight = fn_weight = 0.5`` is the Dice loss.

    Args:
        logits, target, smooth, batch, reduction: as :func:`dice_loss`.
        fp_weight, fn_weight: weights of false positives and false negatives.

    Returns:
        Scalar or (B,) per-case losses, unitless in [0, 1].

    Example:
        >>> tversky_loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2), smooth=0.0)
        tensor(0.4118)
    """
    return 1 - tversky_index(*overlap_sums(z, y, pooled), fp_weight, fn_weight, smooth)


@builtin_loss(
    "focal_tversky",
    "FocalTverskyLoss",
    family="region",
    citation="Abraham, Khan. A novel focal Tversky loss function with improved attention U-Net for "
    "lesion segmentation. ISBI 2019",
)
def focal_tversky_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    fp_weight: NonNegative = 0.3,
    fn_weight: NonNegative = 0.7,
    gamma: NonNegative = 0.75,
    smooth: NonNegative = SMOOTH,
) -> Tensor:
    """Focal Tversky loss: ``(1 - TI)^gamma`` with TI the Tversky index.

    Args:
        logits, target, fp_weight, fn_weight, smooth, batch, reduction: as :func:`tversky_loss`.
        gamma: exponent; values below 1 emphasise hard (low-index) cases.

    Returns:
        Scalar or (B,) per-case losses, unitless in [0, 1].

    Example:
        >>> x, t = torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2)
        >>> focal_tversky_loss(x, t, gamma=1.0, smooth=0.0) == tversky_loss(x, t, smooth=0.0)
        tensor(True)
    """
    index = tversky_index(*overlap_sums(z, y, pooled), fp_weight, fn_weight, smooth)
    return safe_pow(1 - index, gamma)


@builtin_loss(
    "logcosh_dice",
    "LogCoshDiceLoss",
    family="region",
    citation="Jadon. A survey of loss functions for semantic segmentation. CIBCB 2020",
)
def logcosh_dice_loss(
    z: Tensor, y: Tensor, pooled: bool, *, smooth: NonNegative = SMOOTH
) -> Tensor:
    """Log-cosh Dice loss: ``log(cosh(dice loss))``.

    Args:
        logits, target, smooth, batch, reduction: as :func:`dice_loss`.

    Returns:
        Scalar or (B,) per-case losses, unitless in [0, log cosh 1].

    Example:
        >>> logcosh_dice_loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2), smooth=0.0)
        tensor(0.0546)
    """
    return torch.log(torch.cosh(dice_loss.term(z, y, pooled, smooth=smooth)))


@builtin_loss(
    "generalized_dice",
    "GeneralizedDiceLoss",
    family="region",
    citation="Sudre, Li, Vercauteren, Ourselin, Cardoso. Generalised Dice overlap as a deep "
    "learning loss function for highly unbalanced segmentations. DLMIA 2017",
)
def generalized_dice_loss(
    z: Tensor, y: Tensor, pooled: bool, *, smooth: NonNegative = SMOOTH
) -> Tensor:
    """Generalised Dice loss over both classes (background and lesion).

    ``1 - (2 sum_c w_c TP_c + s) / (sum_c w_c (sum p_c + sum y_c) + s)`` with
    ``w_c = 1 / (sum y_c)^2``; a class absent from the reference gets the largest finite weight of
    the unit (as MONAI's ``GeneralizedDiceLoss``). The background sums are derived from the lesion
    ones (``TP_0 = N - sum p - sum y + TP``), so no second pass over the volume is needed.

    Args:
        logits, target, smooth, batch, reduction: as :func:`dice_loss`.

    Returns:
        Scalar or (B,) per-case losses, unitless in [0, 1].

    Example:
        >>> generalized_dice_loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2))
        tensor(0.5000)
    """
    tp, sum_p, sum_y = overlap_sums(z, y, pooled)
    n = unit_size(y, pooled)
    # background sums from the lesion ones, ordered so that float32 loses nothing when either
    # class is (nearly) absent: TP_0 = N_0 - FP, sizes N - sum p and N - sum y
    intersection = torch.stack([(n - sum_y) - (sum_p - tp), tp])  # (2 classes, units)
    size = torch.stack([(n - sum_p) + (n - sum_y), sum_p + sum_y])
    weight = 1 / torch.stack([n - sum_y, sum_y]).detach() ** 2
    finite = torch.isfinite(weight)
    weight = torch.where(finite, weight, torch.zeros_like(weight))
    weight = torch.where(finite, weight, weight.amax(dim=0, keepdim=True))
    return 1 - (2 * (weight * intersection).sum(0) + smooth) / ((weight * size).sum(0) + smooth)


@builtin_loss(
    "dice_pp",
    "DicePPLoss",
    family="region",
    citation="Yeung, Rundo, Nan, Sala, Schonlieb, Yang. Calibrating the Dice loss to handle neural "
    "network overconfidence for biomedical image segmentation. J Digit Imaging 2023",
)
def dice_pp_loss(
    z: Tensor, y: Tensor, pooled: bool, *, gamma: NonNegative = 2.0, smooth: NonNegative = SMOOTH
) -> Tensor:
    """DSC++ loss: ``1 - (2TP + s) / (2TP + sum (p(1-y))^gamma + sum ((1-p)y)^gamma + s)``.

    Raising the voxel-wise false positives and negatives to ``gamma`` penalises confident errors
    more than uncertain ones (better calibration); ``gamma = 1`` is the Dice loss.

    Args:
        logits, target, smooth, batch, reduction: as :func:`dice_loss`.
        gamma: exponent of the voxel-wise error terms.

    Returns:
        Scalar or (B,) per-case losses, unitless in [0, 1].

    Example:
        >>> dice_pp_loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2), smooth=0.0)
        tensor(0.2000)
    """
    p = torch.sigmoid(z)
    q = torch.sigmoid(-z)  # 1 - p without cancellation
    tp = unit_dot(p, y, pooled)
    fp = unit_sum(safe_pow(p * (1 - y), gamma), pooled)
    fn = unit_sum(safe_pow(q * y, gamma), pooled)
    return 1 - (2 * tp + smooth) / (2 * tp + fp + fn + smooth)
