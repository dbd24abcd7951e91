"""Distribution-based losses: voxel-wise cross-entropy and its weighted and focal forms.

Notation: p = sigmoid(z) is the lesion probability, y the target, means run over every voxel of
a unit (the whole batch, or one case with ``reduction="none"``). Log-probabilities come from
``logsigmoid``, so every loss here is finite for any finite logit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses._core import (
    Fraction,
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
