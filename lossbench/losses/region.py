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

    ``1 - (2 sum_c w_c TP_c + s) / (sum_c w_c (sum p_c + sum y_c) + s)`` with Sudre et al.'s
    weights ``1 / V_c^2``, ``V_c = sum y_c``, divided by the largest of them:
    ``w_c = (V_min / V_c)^2``, ``V_min`` the smaller class volume. The ratio without smoothing is
    unchanged by that scaling; the smoothing then acts on sums of the rarest class's size, as in
    the plain Dice, instead of on sums of order ``1 / V`` that ``s`` would swamp (unscaled, an
    empty target in four 80^3 patches predicted as lesion everywhere gives 0.089 where the
    formula gives 1). A class absent from the reference gets the largest weight, 1 (as MONAI's
    ``GeneralizedDiceLoss`` gives it the largest finite weight). The background sums are derived
    from the lesion ones (``TP_0 = N - sum p - sum y + TP``), so no second pass over the volume
    is needed.

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
    volume = torch.stack([n - sum_y, sum_y]).detach()
    present = volume > 0
    rarest = torch.where(present, volume, torch.full_like(volume, torch.inf)).amin(0)
    weight = torch.where(present, (rarest / volume) ** 2, 1.0)
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
    """DSC++ loss, averaged over both classes: ``1 - (DSC++_lesion + DSC++_background) / 2``.

    ``DSC++_c = (2TP_c + s) / (2TP_c + sum (p_c(1-y_c))^gamma + sum ((1-p_c)y_c)^gamma + s)``
    with ``p_1 = p``, ``y_1 = y`` (lesion) and ``p_0 = 1 - p``, ``y_0 = 1 - y`` (background), as
    Yeung et al.'s loss averages over every class of the one-hot output. The background's
    voxel-wise false negatives are the lesion's false positives and vice versa, so the two
    classes share their error sums. Raising the errors to ``gamma`` penalises confident errors
    more than uncertain ones (better calibration); ``gamma = 1`` is the mean Dice loss of both
    classes.

    Args:
        logits, target, smooth, batch, reduction: as :func:`dice_loss` (sums per class pooled
            over the batch with ``batch=True``, per case otherwise).
        gamma: exponent of the voxel-wise error terms.

    Returns:
        Scalar or (B,) per-case losses, unitless in [0, 1].

    Example:
        >>> dice_pp_loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2), smooth=0.0)
        tensor(0.6000)
    """
    p = torch.sigmoid(z)
    q = torch.sigmoid(-z)  # 1 - p without cancellation
    background = 1 - y
    errors = unit_sum(safe_pow(p * background, gamma), pooled) + unit_sum(
        safe_pow(q * y, gamma), pooled
    )
    tp_lesion, tp_background = unit_dot(p, y, pooled), unit_dot(q, background, pooled)
    lesion_index = (2 * tp_lesion + smooth) / (2 * tp_lesion + errors + smooth)
    background_index = (2 * tp_background + smooth) / (2 * tp_background + errors + smooth)
    return 1 - (lesion_index + background_index) / 2


def _lovasz_gradient(labels: Tensor) -> Tensor:
    """Gradient of the Lovász extension of the Jaccard loss at ``labels`` sorted by decreasing
    error, per row of (units, voxels): the increments of ``1 - |G minus first i| / |G union
    first i|`` (Berman et al., eq. 8 and their ``lovasz_grad``)."""
    total = labels.sum(1, keepdim=True)
    intersection = total - labels.cumsum(1)
    union = total + (1 - labels).cumsum(1)
    jaccard = 1 - intersection / union
    return torch.cat((jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]), dim=1)


@builtin_loss(
    "lovasz_hinge",
    "LovaszHingeLoss",
    family="region",
    citation="Berman, Rannen Triki, Blaschko. The Lovász-softmax loss: a tractable surrogate for "
    "the optimization of the intersection-over-union measure in neural networks. CVPR 2018",
)
def lovasz_hinge_loss(z: Tensor, y: Tensor, pooled: bool) -> Tensor:
    """Lovász hinge loss: the Lovász extension of the Jaccard loss applied to the hinge errors
    of the logits, ``dot(relu(e_sorted), g(y_sorted))``.

    ``e = 1 - z (2y - 1)`` are the hinge errors of the lesion logit (not of p), sorted in
    decreasing order, and ``g`` is the gradient of the Lovász extension at the labels in that
    order (:func:`_lovasz_gradient`). This is Berman et al.'s binary ``lovasz_hinge`` in 3D:
    with ``batch=True`` the voxels of the whole batch form one set, as the reference's default
    ``per_image=False``; ``reduction="none"`` gives each case its own (``per_image=True``). A
    unit without lesion voxels scores ``relu(max e)``, as the reference does. Ties among the
    errors are broken by a stable sort and leave the value unchanged.

    Args:
        logits, target, batch, reduction: as :func:`dice_loss`.

    Returns:
        Scalar or (B,) per-case losses, in logit units (0 when every voxel is on its side of 0
        with a margin of 1).

    Example:
        >>> z = torch.tensor([[[[[2.0, -2.0, 0.5, 0.5]]]]])  # errors -1, -1, 0.5, 1.5
        >>> y = torch.tensor([[[[[1.0, 0.0, 1.0, 0.0]]]]])  # g = 1/3, 1/3 for 1.5, 0.5
        >>> round(lovasz_hinge_loss(z, y).item(), 4)  # (1.5 + 0.5) / 3
        0.6667
    """
    units = 1 if pooled else z.shape[0]
    logits, labels = z.reshape(units, -1), y.reshape(units, -1)
    errors = 1 - logits * (2 * labels - 1)
    errors_sorted, order = torch.sort(errors, dim=1, descending=True, stable=True)
    weights = _lovasz_gradient(labels.gather(1, order))
    return torch.linalg.vecdot(torch.relu(errors_sorted), weights)
