"""Compound losses: a region term plus a distribution term.

Notation as in :mod:`lossbench.losses.region`; ``wCE_beta = mean(-[beta y log p +
(1-beta)(1-y) log(1-p)])`` is the modified cross-entropy of Combo and HyTver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lossbench.losses._core import (
    SMOOTH,
    Fraction,
    Loss,
    NonNegative,
    overlap_and_wce,
    overlap_sums,
    safe_pow,
    unit_dot,
    unit_size,
)
from lossbench.losses.distribution import Percent, focal_loss, focal_sums, topk_loss
from lossbench.losses.region import dice_index, dice_loss, tversky_index
from lossbench.losses.registry import builtin_loss

if TYPE_CHECKING:

    def __getattr__(name: str) -> type[Loss]: ...  # the classes made by builtin_loss


_CITE_UNIFIED = (
    "Yeung, Sala, Schonlieb, Rundo. Unified focal loss: generalising Dice and cross entropy-based "
    "losses to handle class imbalanced medical image segmentation. CMIG 2022"
)


@builtin_loss(
    "dice_ce",
    "DiceCELoss",
    family="compound",
    citation="Isensee, Jaeger, Kohl, Petersen, Maier-Hein. nnU-Net: a self-configuring method for "
    "deep learning-based biomedical image segmentation. Nat Methods 2021",
)
def dice_ce_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    lambda_dice: NonNegative = 1.0,
    lambda_ce: NonNegative = 1.0,
    smooth: NonNegative = SMOOTH,
) -> Tensor:
    """Dice + cross-entropy: ``lambda_dice * dice + lambda_ce * ce``.

    Args:
        logits: (B, C, *spatial) raw outputs, C = 1 (sigmoid) or 2 (softmax).
        target: (B, 1, *spatial) or (B, *spatial) in [0, 1].
        lambda_dice, lambda_ce: weights of the two terms.
        smooth, batch, reduction: as :func:`lossbench.losses.dice_loss`.

    Returns:
        Scalar (``reduction="mean"``) or (B,) per-case losses.

    Example:
        >>> dice_ce_loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2), smooth=0.0)
        tensor(1.0265)
    """
    tp, sum_p, sum_y, half_ce = overlap_and_wce(z, y, pooled, 0.5)
    dice = 1 - dice_index(tp, sum_p, sum_y, smooth)
    return lambda_dice * dice + lambda_ce * 2 * half_ce / unit_size(y, pooled)


@builtin_loss(
    "focal_dice",
    "FocalDiceLoss",
    family="compound",
    citation="Zhu et al. AnatomyNet: deep learning for fast and fully automated whole-volume "
    "segmentation of head and neck anatomy. Med Phys 2019",
)
def focal_dice_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    lambda_dice: NonNegative = 1.0,
    lambda_focal: NonNegative = 1.0,
    alpha: Fraction = 0.25,
    gamma: NonNegative = 2.0,
    smooth: NonNegative = SMOOTH,
) -> Tensor:
    """Dice + focal: ``lambda_dice * dice + lambda_focal * focal(alpha, gamma)``.

    Args:
        logits, target, smooth, batch, reduction: as :func:`dice_ce_loss`.
        lambda_dice, lambda_focal: weights of the two terms.
        alpha, gamma: as :func:`lossbench.losses.focal_loss`.

    Returns:
        Scalar or (B,) per-case losses.

    Example:
        >>> focal_dice_loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2), smooth=0.0)
        tensor(0.3767)
    """
    dice = dice_loss.term(z, y, pooled, smooth=smooth)
    return lambda_dice * dice + lambda_focal * focal_loss.term(
        z, y, pooled, alpha=alpha, gamma=gamma
    )


@builtin_loss(
    "combo",
    "ComboLoss",
    family="compound",
    citation="Taghanaki, Zheng, Zhou, Georgescu, Sharma, Xu, Comaniciu, Hamarneh. Combo loss: "
    "handling input and output imbalance in multi-organ segmentation. CMIG 2019",
)
def combo_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    alpha: Fraction = 0.5,
    beta: Fraction = 0.5,
    smooth: NonNegative = SMOOTH,
) -> Tensor:
    """Combo loss: ``alpha * wCE_beta + (1 - alpha) * dice``.

    Args:
        logits, target, smooth, batch, reduction: as :func:`dice_ce_loss`.
        alpha: weight of the cross-entropy term.
        beta: weight of lesion voxels in the cross-entropy (background: ``1 - beta``); above 0.5
            penalises false negatives more than false positives.

    Returns:
        Scalar or (B,) per-case losses.

    Example:
        >>> combo_loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2), smooth=0.0)
        tensor(0.3400)
    """
    tp, sum_p, sum_y, wce = overlap_and_wce(z, y, pooled, beta)
    dice = 1 - dice_index(tp, sum_p, sum_y, smooth)
    return alpha * wce / unit_size(y, pooled) + (1 - alpha) * dice


@builtin_loss(
    "hytver",
    "HyTverLoss",
    family="compound",
    citation="Perera, Fung, Baskaran. HyTver: a novel loss function for longitudinal multiple "
    "sclerosis lesion segmentation. 2025",
)
def hytver_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    alpha: Fraction = 0.7,
    beta: Fraction = 0.7,
    gamma: Fraction = 0.5,
    smooth: NonNegative = SMOOTH,
) -> Tensor:
    """HyTver loss: ``gamma * wCE_beta + (1 - gamma) * (1 - TI)``.

    ``TI = (TP + s) / (TP + alpha FN + (1 - alpha) FP + s)``: ``alpha`` is the false-negative
    weight of the Tversky term, ``beta`` the lesion weight of the modified cross-entropy,
    ``gamma`` the mix. This is the published formula (the authors' released code passes the
    prediction as the target, which swaps the FP/FN weights and takes the log of the label).

    Args:
        logits, target, smooth, batch, reduction: as :func:`dice_ce_loss`.
        alpha, beta, gamma: as above.

    Returns:
        Scalar or (B,) per-case losses.

    Example:
        >>> hytver_loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2), smooth=0.0)
        tensor(0.4485)
    """
    tp, sum_p, sum_y, wce = overlap_and_wce(z, y, pooled, beta)
    tversky = 1 - tversky_index(tp, sum_p, sum_y, 1 - alpha, alpha, smooth)
    return gamma * wce / unit_size(y, pooled) + (1 - gamma) * tversky


def _modified_tversky_terms(
    z: Tensor, y: Tensor, pooled: bool, delta: float, smooth: float
) -> tuple[Tensor, Tensor]:
    """``(1 - mTI_0, 1 - mTI_1)`` of background and lesion, each (1,) or (B,).

    ``mTI_c = (TP_c + s) / (TP_c + delta FN_c + (1-delta) FP_c + s)``; the background counts
    follow from the lesion ones (``FN_0 = FP_1``, ``FP_0 = FN_1``).
    """
    tp, _, sum_y = overlap_sums(z, y, pooled)
    n = unit_size(y, pooled)
    # summed directly, not as sum p - TP and sum y - TP: those cancel in float32 when p is near
    # 0 off the lesion or near 1 on it, and the background term divides such tiny counts
    fp = unit_dot(1 - y, torch.sigmoid(z), pooled)
    fn = unit_dot(y, torch.sigmoid(-z), pooled)
    tp0 = (n - sum_y) - fp  # in this order: exact when there is no background left
    # 1 - mTI as its own ratio: 1 minus an index near 1 would cancel, and the focal exponent
    # (1 - mTI)^(1-gamma) magnifies that error near 0
    miss0, miss1 = delta * fp + (1 - delta) * fn, delta * fn + (1 - delta) * fp
    return miss0 / (tp0 + miss0 + smooth), miss1 / (tp + miss1 + smooth)


@builtin_loss(
    "symmetric_unified_focal",
    "SymmetricUnifiedFocalLoss",
    family="compound",
    citation=_CITE_UNIFIED,
)
def symmetric_unified_focal_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    weight: Fraction = 0.5,
    delta: Fraction = 0.6,
    gamma: Fraction = 0.5,
    smooth: NonNegative = SMOOTH,
) -> Tensor:
    """Symmetric unified focal loss over background (c=0) and lesion (c=1).

    ``weight * mean_c (1 - mTI_c)^(1-gamma) + (1 - weight) * mean(-(1-delta) (1-p0)^gamma y0
    log p0 - delta (1-p1)^gamma y1 log p1)`` with ``p1 = p, y1 = y, p0 = 1-p, y0 = 1-y`` and
    ``mTI_c = (TP_c + s) / (TP_c + delta FN_c + (1-delta) FP_c + s)``.

    Args:
        logits, target, smooth, batch, reduction: as :func:`dice_ce_loss`.
        weight: mix of the Tversky (region) and focal (distribution) parts.
        delta: false-negative weight of the Tversky part and lesion weight of the focal part.
        gamma: focal exponent (region part: ``1 - gamma``).

    Returns:
        Scalar or (B,) per-case losses.

    Example:
        >>> x, t = torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2)
        >>> symmetric_unified_focal_loss(x, t, smooth=0.0)
        tensor(0.5501)
    """
    background, lesion = _modified_tversky_terms(z, y, pooled, delta, smooth)
    region = (safe_pow(background, 1 - gamma) + safe_pow(lesion, 1 - gamma)) / 2
    focal = focal_sums(z, y, delta, gamma, gamma, pooled) / unit_size(y, pooled)
    return weight * region + (1 - weight) * focal


@builtin_loss(
    "asymmetric_unified_focal",
    "AsymmetricUnifiedFocalLoss",
    family="compound",
    citation=_CITE_UNIFIED,
)
def asymmetric_unified_focal_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    weight: Fraction = 0.5,
    delta: Fraction = 0.6,
    gamma: Fraction = 0.5,
    smooth: NonNegative = SMOOTH,
) -> Tensor:
    """Asymmetric unified focal loss: focal suppression for the background class only.

    ``weight * mean{1 - mTI_0, (1 - mTI_1)^(1-gamma)} + (1 - weight) * mean(-(1-delta)
    (1-p0)^gamma y0 log p0 - delta y1 log p1)``, notation as
    :func:`symmetric_unified_focal_loss`.

    Args:
        logits, target, weight, delta, gamma, smooth, batch, reduction: as
            :func:`symmetric_unified_focal_loss`.

    Returns:
        Scalar or (B,) per-case losses.

    Example:
        >>> x, t = torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2)
        >>> asymmetric_unified_focal_loss(x, t, smooth=0.0)
        tensor(0.6110)
    """
    background, lesion = _modified_tversky_terms(z, y, pooled, delta, smooth)
    region = (background + safe_pow(lesion, 1 - gamma)) / 2
    focal = focal_sums(z, y, delta, 0.0, gamma, pooled) / unit_size(y, pooled)
    return weight * region + (1 - weight) * focal


@builtin_loss(
    "dice_topk",
    "DiceTopKLoss",
    family="compound",
    citation="Isensee et al., nnU-Net (Nat Methods 2021), DC_and_topk_loss; Ma et al., Loss "
    "odyssey in medical image segmentation, MedIA 2021",
)
def dice_topk_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    lambda_dice: NonNegative = 1.0,
    lambda_topk: NonNegative = 1.0,
    k: Percent = 10.0,
    smooth: NonNegative = SMOOTH,
) -> Tensor:
    """Dice + TopK: ``lambda_dice * dice + lambda_topk * topk(k)``, nnU-Net's
    ``DC_and_topk_loss`` (weights 1 each, k = 10, smooth 1e-5).

    nnU-Net's Dice term is -Dice where this one is 1 - Dice: the two differ by ``lambda_dice``,
    a constant, and have the same gradients.

    Args:
        logits, target, smooth, batch, reduction: as :func:`dice_ce_loss`.
        lambda_dice, lambda_topk: weights of the two terms.
        k: as :func:`lossbench.losses.topk_loss`.

    Returns:
        Scalar or (B,) per-case losses.

    Example:
        >>> z, y = torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2)
        >>> round(dice_topk_loss(z, y, smooth=0.0).item(), 4)  # 1 - 2/3 + log 2
        1.0265
    """
    dice = dice_loss.term(z, y, pooled, smooth=smooth)
    return lambda_dice * dice + lambda_topk * topk_loss.term(z, y, pooled, k=k)
