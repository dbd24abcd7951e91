"""Distribution-based losses: voxel-wise cross-entropy and its weighted and focal forms.

Notation: p = sigmoid(z) is the lesion probability, y the target, means run over every voxel of
a unit (the whole batch, or one case with ``reduction="none"``). Log-probabilities come from
``logsigmoid``, so every loss here is finite for any finite logit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses._core import (
    Fraction,
    Interval,
    Loss,
    NonNegative,
    overlap_and_wce,
    unit_dot,
    unit_mean,
    unit_size,
    unit_sum,
)
from lossbench.losses.registry import builtin_loss

if TYPE_CHECKING:

    def __getattr__(name: str) -> type[Loss]: ...  # the classes made by builtin_loss


class _FocalSums(torch.autograd.Function):
    """Per-unit sums of focal voxel losses with a hand-written backward.

    Autograd through the voxel formula stores a dozen full-size intermediates and runs about
    twenty element-wise kernels; this keeps two (log p, log(1-p)) and runs about half as many.
    The target gets its full gradient, ``(1-alpha) p^gamma_neg log(1-p) - alpha
    (1-p)^gamma_pos log p`` per voxel; under ``create_graph=True`` both gradients are formed from
    differentiable operations, so second derivatives are exact.
    """

    @staticmethod
    def forward(
        ctx: Any,
        z: Tensor,
        y: Tensor,
        alpha: float,
        gamma_pos: float,
        gamma_neg: float,
        pooled: bool,
    ) -> Tensor:
        log_p = F.logsigmoid(z)
        log_q = log_p - z  # log(1 - p) = logsigmoid(-z)
        pos = log_p if gamma_pos == 0 else torch.exp(log_q * gamma_pos).mul_(log_p)
        neg = log_q if gamma_neg == 0 else torch.exp(log_p * gamma_neg).mul_(log_q)
        # (1 - y) neg per voxel before summing: sum neg - sum y neg would subtract two sums of
        # order |z| where a confident prediction is right
        total = alpha * unit_dot(y, pos, pooled) + (1 - alpha) * unit_sum(
            torch.addcmul(neg, y, neg, value=-1), pooled
        )
        ctx.save_for_backward(z, y, log_p, log_q)
        ctx.constants = (alpha, gamma_pos, gamma_neg, pooled)
        return -total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        z, y, log_p, log_q = ctx.saved_tensors
        alpha, gamma_pos, gamma_neg, pooled = ctx.constants
        grad = grad if pooled else grad.reshape((-1,) + (1,) * (z.ndim - 1))
        need_z, need_y = ctx.needs_input_grad[:2]
        grad_z = grad_y = None
        # d/dz of -y q^a log p is y q^a (a p log p - q);
        # d/dz of -(1-y) p^b log q is (1-y) p^b (p - b q log q)
        if torch.is_grad_enabled():  # backward(create_graph=True): differentiable operations
            log_p, log_q = F.logsigmoid(z), F.logsigmoid(-z)
            if need_z:
                p, q = log_p.exp(), log_q.exp()
                d_pos = torch.exp(gamma_pos * log_q) * (gamma_pos * p * log_p - q)
                d_neg = torch.exp(gamma_neg * log_p) * (p - gamma_neg * q * log_q)
                grad_z = grad * (alpha * y * d_pos + (1 - alpha) * (1 - y) * d_neg)
        elif need_z:
            p, q = log_p.exp(), log_q.exp()
            d_pos = (p * gamma_pos).mul_(log_p).sub_(q) if gamma_pos else q.neg()
            if gamma_pos:
                d_pos.mul_(torch.exp(log_q * gamma_pos))
            d_neg = (q * gamma_neg).mul_(log_q).neg_().add_(p) if gamma_neg else p
            if gamma_neg:
                d_neg.mul_(torch.exp(log_p * gamma_neg))
            d_neg = d_neg * (1 - alpha)
            grad_z = d_pos.mul_(alpha).sub_(d_neg).mul_(y).add_(d_neg).mul_(grad)
        if need_y:
            pos = torch.exp(gamma_pos * log_q) * log_p
            neg = torch.exp(gamma_neg * log_p) * log_q
            grad_y = grad * ((1 - alpha) * neg - alpha * pos)
        return grad_z, grad_y, None, None, None, None


def focal_sums(
    z: Tensor, y: Tensor, alpha: float, gamma_pos: float, gamma_neg: float, pooled: bool
) -> Tensor:
    """Per-unit sums of ``-alpha y (1-p)^gamma_pos log p - (1-alpha)(1-y) p^gamma_neg log(1-p)``.

    One formula for the focal loss (``gamma_pos = gamma_neg``), the unified focal losses and the
    beta-weighted cross-entropy of Combo and HyTver (both exponents 0). Powers are computed as
    ``exp(gamma logsigmoid(.))``, so values and gradients stay finite where p saturates.

    Args:
        z: lesion logits (B, *spatial).
        y: target (B, *spatial), values in [0, 1].
        alpha: weight of the lesion term; the background term gets ``1 - alpha``.
        gamma_pos, gamma_neg: focusing exponents of the lesion and background terms.
        pooled: sum over the whole batch (shape (1,)) or per case (shape (B,)).

    Returns:
        Tensor (1,) or (B,) of non-negative sums (nats).

    Example:
        >>> focal_sums(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]), 0.5, 0.0, 0.0, True)
        tensor([0.6931])
    """
    return _FocalSums.apply(z, y, alpha, gamma_pos, gamma_neg, pooled)


@builtin_loss(
    "ce",
    "CELoss",
    family="distribution",
    citation="Cross-entropy; e.g. Ma et al., Loss odyssey in medical image segmentation, "
    "MedIA 2021",
)
def ce_loss(z: Tensor, y: Tensor, pooled: bool) -> Tensor:
    """Binary cross-entropy: ``mean(-[y log p + (1-y) log(1-p)])``.

    Args:
        logits: (B, C, *spatial) raw outputs, C = 1 (sigmoid) or 2 (softmax).
        target: (B, 1, *spatial) or (B, *spatial) in [0, 1].
        batch, reduction: see :func:`lossbench.losses.create_loss`.

    Returns:
        Scalar (``reduction="mean"``) or (B,) per-case losses, in nats.

    Example:
        >>> ce_loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2))  # log 2
        tensor(0.6931)
    """
    # per voxel before averaging, (1 - y) z - logsigmoid(z), so that a confident correct voxel
    # costs exactly 0 (softplus(z) summed minus y z summed would subtract sums of order |z|);
    # torch's own mean keeps its backward to one fused kernel
    if pooled:
        return F.binary_cross_entropy_with_logits(z, y).reshape(1)
    return unit_mean(F.binary_cross_entropy_with_logits(z, y, reduction="none"), pooled)


@builtin_loss(
    "weighted_ce",
    "WeightedCELoss",
    family="distribution",
    citation="Class-weighted cross-entropy, as run for 'Weighteddice' in Perera et al., "
    "HyTver, 2025",
)
def weighted_ce_loss(z: Tensor, y: Tensor, pooled: bool, *, pos_weight: Fraction = 0.9) -> Tensor:
    """Class-weighted cross-entropy normalised by the total weight, as torch's weighted CE.

    ``sum(w_i l_i) / sum(w_i)`` with ``l_i`` the voxel cross-entropy and
    ``w_i = pos_weight y_i + (1 - pos_weight)(1 - y_i)``.

    The HyTver paper's "Weighteddice" row is this loss with ``pos_weight=0.9``: that is what its
    authors' released code trains under that name (it contains no weighted Dice).

    Args:
        logits, target, batch, reduction: as :func:`ce_loss`.
        pos_weight: weight of lesion voxels; background voxels get ``1 - pos_weight``.

    Returns:
        Scalar or (B,) per-case losses, in nats.

    Example:
        >>> weighted_ce_loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2))
        tensor(0.6931)
    """
    _, _, sum_y, numerator = overlap_and_wce(z, y, pooled, pos_weight)
    weights = (1 - pos_weight) * unit_size(y, pooled) + (2 * pos_weight - 1) * sum_y
    return numerator / weights.clamp_min(torch.finfo(z.dtype).tiny)


@builtin_loss(
    "focal",
    "FocalLoss",
    family="distribution",
    citation="Lin, Goyal, Girshick, He, Dollar. Focal loss for dense object detection. ICCV 2017",
)
def focal_loss(
    z: Tensor, y: Tensor, pooled: bool, *, alpha: Fraction = 0.25, gamma: NonNegative = 2.0
) -> Tensor:
    """Alpha-balanced focal loss: ``mean(-a_t (1 - p_t)^gamma log p_t)``.

    ``p_t = p, a_t = alpha`` where y = 1 and ``p_t = 1 - p, a_t = 1 - alpha`` where y = 0; soft
    labels mix both terms linearly.

    Args:
        logits, target, batch, reduction: as :func:`ce_loss`.
        alpha: weight of lesion voxels.
        gamma: focusing exponent; 0 gives the alpha-weighted cross-entropy.

    Returns:
        Scalar or (B,) per-case losses, in nats.

    Example:
        >>> round(focal_loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2)).item(), 6)
        0.043322
    """
    return focal_sums(z, y, alpha, gamma, gamma, pooled) / unit_size(y, pooled)


Percent = Annotated[float, Interval(0.01, 100.0)]
"""A share of voxels in percent, in [0.01, 100]."""


@builtin_loss(
    "topk",
    "TopKLoss",
    family="distribution",
    citation="Wu, Shen, van den Hengel. Bridging category-level and instance-level semantic image "
    "segmentation. arXiv:1605.06885, 2016; as nnU-Net's TopKLoss",
)
def topk_loss(z: Tensor, y: Tensor, pooled: bool, *, k: Percent = 10.0) -> Tensor:
    """Cross-entropy of the ``k`` percent hardest voxels: the mean of the largest
    ``max(1, floor(n k / 100))`` voxel cross-entropies of a unit of ``n`` voxels.

    nnU-Net's ``TopKLoss`` with its default k = 10, over the whole batch as nnU-Net pools it
    (``reduction="none"`` takes each case's hardest voxels). Its gradient reaches the selected
    voxels only; ties at the threshold are broken by ``torch.topk``.

    Args:
        logits, target, batch, reduction: as :func:`ce_loss`.
        k: the share of voxels kept (percent).

    Returns:
        Scalar or (B,) per-case losses, in nats.

    Example:
        >>> z = torch.tensor([[[[[4.0, -4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]]]])
        >>> round(topk_loss(z, torch.zeros_like(z), k=10).item(), 4)  # only the worst voxel
        4.0181
    """
    voxel = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    units = voxel.reshape(1 if pooled else voxel.shape[0], -1)
    count = max(1, int(units.shape[1] * k / 100))
    return torch.topk(units, count, dim=1, sorted=False).values.mean(dim=1)


@builtin_loss(
    "sensitivity_specificity",
    "SensitivitySpecificityLoss",
    family="distribution",
    citation="Brosch, Yoo, Tang, Li, Traboulsee, Tam. Deep convolutional encoder networks for "
    "multiple sclerosis lesion segmentation. MICCAI 2015",
)
def sensitivity_specificity_loss(
    z: Tensor, y: Tensor, pooled: bool, *, r: Fraction = 0.05
) -> Tensor:
    """Brosch et al.'s loss for MS lesions: ``r sum((y-p)^2 y) / sum(y) + (1-r) sum((y-p)^2
    (1-y)) / sum(1-y)``, the mean squared error over lesion voxels (a sensitivity term) and over
    background voxels (a specificity term), weighted by ``r``.

    Undefined where a unit has no lesion voxel (or no background voxel): that term's sum is 0
    there, and the loss takes it as 0 (its denominator is clamped to 1e-5, as NiftyNet's
    ``sensitivity_specificity_loss`` adds 1e-5), so an empty target scores the specificity
    term alone.

    Args:
        logits, target, batch, reduction: as :func:`ce_loss`.
        r: weight of the sensitivity term; Brosch et al. found 0.01-0.1 alike and used 0.05.

    Returns:
        Scalar or (B,) per-case losses, in [0, 1].

    Example:
        >>> z = torch.zeros(1, 1, 1, 1, 2)  # p = 0.5 everywhere
        >>> sensitivity_specificity_loss(z, torch.tensor([[[[[1.0, 0.0]]]]]))
        tensor(0.2500)
    """
    squared = (y - torch.sigmoid(z)) ** 2
    lesion = unit_dot(squared, y, pooled) / unit_sum(y, pooled).clamp_min(1e-5)
    background = unit_dot(squared, 1 - y, pooled) / unit_sum(1 - y, pooled).clamp_min(1e-5)
    return r * lesion + (1 - r) * background
