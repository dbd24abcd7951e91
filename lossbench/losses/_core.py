"""The building blocks every loss shares, each written once.

Every built-in loss is a *term*: a function ``term(z, y, pooled, **hparams) -> Tensor`` of the
lesion logit ``z`` and the float target ``y`` (both shaped (B, *spatial)) that returns one loss
value per *unit*: shape (1,) when region sums are pooled over the batch, (B,) otherwise.
:func:`loss_function` turns a term into the public functional (validation of inputs and
hyper-parameters, activation, target shape, reduction), and :class:`Loss` into an ``nn.Module``.

A term may also need *target maps*: tensors computed from the target alone, such as distance
maps. It declares them to :func:`loss_function` and receives them in its keyword
``target_maps``, which is not a hyper-parameter; see :class:`Loss` for how a caller computes them
ahead of the loss.

This module holds the per-unit sums that terms are built from (:func:`unit_sum`,
:func:`overlap_sums`, ...) and gathers the rest, each in its own module: the input step
(:func:`lesion_input`, in ``_input``), the hyper-parameter declarations and their checks
(:data:`Fraction`, :func:`check_params`, in ``_params``), and :func:`loss_function` and
:class:`Loss` (in ``_function``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses._function import (
    MAPS_KEYWORD,
    Loss,
    LossFunction,
    MapFunction,
    TargetMaps,
    Term,
    loss_function,
)
from lossbench.losses._input import lesion_input
from lossbench.losses._params import Fraction, Interval, NonNegative, Reduction, check_params

__all__ = [
    "MAPS_KEYWORD",
    "SMOOTH",
    "Fraction",
    "Interval",
    "Loss",
    "LossFunction",
    "MapFunction",
    "NonNegative",
    "Reduction",
    "TargetMaps",
    "Term",
    "check_params",
    "lesion_input",
    "loss_function",
    "overlap_and_wce",
    "overlap_sums",
    "safe_pow",
    "unit_dot",
    "unit_mean",
    "unit_size",
    "unit_sum",
]

SMOOTH = 1e-5
"""Default smoothing added to numerator and denominator of every region ratio."""


def unit_sum(x: Tensor, pooled: bool) -> Tensor:
    """Sum ``x`` (B, *spatial) per unit: shape (1,) when ``pooled``, else (B,).

    Example:
        >>> unit_sum(torch.ones(2, 3), pooled=True), unit_sum(torch.ones(2, 3), pooled=False)
        (tensor([6.]), tensor([3., 3.]))
    """
    return x.sum().reshape(1) if pooled else x.flatten(1).sum(1)


def unit_mean(x: Tensor, pooled: bool) -> Tensor:
    """Mean of ``x`` (B, *spatial) per unit: shape (1,) when ``pooled``, else (B,).

    Example:
        >>> unit_mean(torch.tensor([[1.0, 3.0], [5.0, 7.0]]), pooled=True)
        tensor([4.])
    """
    return x.mean().reshape(1) if pooled else x.flatten(1).mean(1)


def unit_dot(a: Tensor, b: Tensor, pooled: bool) -> Tensor:
    """``unit_sum(a * b)`` without materialising the product: (1,) or (B,).

    Example:
        >>> unit_dot(torch.ones(2, 3), torch.full((2, 3), 2.0), pooled=False)
        tensor([6., 6.])
    """
    if pooled:
        return torch.dot(a.reshape(-1), b.reshape(-1)).reshape(1)
    return torch.linalg.vecdot(a.flatten(1), b.flatten(1))


def unit_size(x: Tensor, pooled: bool) -> float:
    """Number of voxels in one unit of ``x`` (B, *spatial): all of them, or one case's.

    Example:
        >>> x = torch.ones(2, 3, 4)
        >>> unit_size(x, pooled=True), unit_size(x, pooled=False)
        (24.0, 12.0)
    """
    return float(x.numel() if pooled else x[0].numel())


def _weighted_ce_sum(z: Tensor, y: Tensor, pooled: bool, beta: float) -> Tensor:
    """Per-unit sum of ``beta y softplus(-z) + (1-beta)(1-y) softplus(z)``, the beta-weighted
    cross-entropy ``-[beta y log p + (1-beta)(1-y) log(1-p)]`` (nats), summed per voxel.

    Each voxel's value is formed before summing, so a correct prediction costs exactly 0 however
    large ``|z|``: ``sum softplus(z) - sum y z`` would subtract two sums of order ``|z|``.
    """
    soft = F.softplus(z)  # -log(1 - p); exactly z where z > 20
    if beta == 0.5:  # half the cross-entropy, softplus(z) - y z, exact where y is 0 or 1
        return 0.5 * unit_sum(soft.addcmul_(y, z, value=-1), pooled)
    lesion = unit_dot(y, soft - z, pooled)  # -log p = softplus(z) - z
    background = unit_sum(soft.addcmul_(y, soft, value=-1), pooled)  # (1 - y)(-log(1 - p))
    return beta * lesion + (1 - beta) * background


class _SoftOverlap(torch.autograd.Function):
    """Per-unit ``(TP, sum p, wCE_beta sum)`` of ``p = sigmoid(z)``, with a fused backward.

    The beta-weighted cross-entropy is summed by :func:`_weighted_ce_sum`. Its gradient
    ``(1-beta) p + (2 beta - 1) p y - beta y`` is added in place to the region gradient, so a
    compound loss (Dice + CE, Combo, HyTver) costs one gradient tensor, not one per term.

    The target gets its full gradient (soft labels may be learned):
    ``p dTP + (beta softplus(-z) - (1-beta) softplus(z)) dwCE``. Under ``create_graph=True`` the
    gradients are formed from differentiable operations on ``z`` and ``y`` instead, so second
    derivatives (Hessian-vector products) are exact.
    """

    @staticmethod
    def forward(
        ctx: Any, z: Tensor, y: Tensor, pooled: bool, beta: float | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        p = torch.sigmoid(z)
        ctx.save_for_backward(z, y, p)
        ctx.pooled, ctx.beta = pooled, beta
        tp, sum_p = unit_dot(p, y, pooled), unit_sum(p, pooled)
        if beta is None:
            return tp, sum_p, torch.zeros_like(tp)
        return tp, sum_p, _weighted_ce_sum(z, y, pooled, beta)

    @staticmethod
    def backward(
        ctx: Any, grad_tp: Tensor, grad_sp: Tensor, grad_wce: Tensor
    ) -> tuple[Tensor | None, ...]:
        z, y, p = ctx.saved_tensors
        shape = (1,) * z.ndim if ctx.pooled else (-1,) + (1,) * (z.ndim - 1)
        grad_tp, grad_sp, grad_wce = (g.reshape(shape) for g in (grad_tp, grad_sp, grad_wce))
        beta, (need_z, need_y) = ctx.beta, ctx.needs_input_grad[:2]
        grad_z = grad_y = None
        if torch.is_grad_enabled():  # backward(create_graph=True): differentiable operations
            p, q = torch.sigmoid(z), torch.sigmoid(-z)
            if need_z:
                grad_z = p * q * (grad_sp + y * grad_tp)
                if beta is not None:
                    grad_z = grad_z + grad_wce * ((1 - beta) * (1 - y) * p - beta * y * q)
        elif need_z:
            grad_z = torch.ops.aten.sigmoid_backward(torch.addcmul(grad_sp, y, grad_tp), p)
            if beta == 0.5:  # plain cross-entropy: (p - y) / 2
                grad_z.addcmul_(p, grad_wce, value=0.5).addcmul_(y, grad_wce, value=-0.5)
            elif beta is not None:  # p ((1-beta) + (2 beta - 1) y) - beta y
                weight = torch.addcmul((1 - beta) * grad_wce, y, (2 * beta - 1) * grad_wce)
                grad_z.addcmul_(p, weight).addcmul_(y, grad_wce, value=-beta)
        if need_y:
            grad_y = p * grad_tp
            if beta is not None:  # d wCE / dy = -beta log p + (1-beta) log(1-p)
                grad_y = grad_y + grad_wce * (beta * F.softplus(-z) - (1 - beta) * F.softplus(z))
        return grad_z, grad_y, None, None


def overlap_sums(z: Tensor, y: Tensor, pooled: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Soft overlap sums of ``p = sigmoid(z)`` per unit: ``(TP, sum p, sum y)``, each (1,) or (B,).

    ``FP = sum p - TP`` and ``FN = sum y - TP``, so three reductions give all four counts. A
    target that requires grad (soft labels being learned) gets its gradient too.

    Example:
        >>> overlap_sums(torch.tensor([[0.0, 9.0]]), torch.tensor([[1.0, 0.0]]), pooled=True)
        (tensor([0.5000]), tensor([1.4999]), tensor([1.]))
    """
    tp, sum_p, _ = _SoftOverlap.apply(z, y, pooled, None)
    return tp, sum_p, unit_sum(y, pooled)


def overlap_and_wce(
    z: Tensor, y: Tensor, pooled: bool, beta: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """:func:`overlap_sums` plus the per-unit *sum* of the beta-weighted cross-entropy
    ``-[beta y log p + (1-beta)(1-y) log(1-p)]`` (nats), computed in the same pass.

    ``beta = 0.5`` gives half the plain cross-entropy.

    Example:
        >>> tp, sp, sy, wce = overlap_and_wce(torch.zeros(1, 2), torch.ones(1, 2), True, 0.5)
        >>> wce  # 2 voxels x 0.5 log 2
        tensor([0.6931])
    """
    tp, sum_p, wce = _SoftOverlap.apply(z, y, pooled, beta)
    return tp, sum_p, unit_sum(y, pooled), wce


def safe_pow(x: Tensor, exponent: float) -> Tensor:
    """``x ** exponent`` for ``x >= 0`` whose gradient stays finite at ``x = 0`` (it is 0 there).

    Plain ``x ** 0.5`` has an infinite derivative at 0, which turns a perfect prediction into a
    NaN gradient.

    Example:
        >>> x = torch.tensor([0.0, 4.0], requires_grad=True)
        >>> safe_pow(x, 0.5).sum().backward()
        >>> x.grad
        tensor([0.0000, 0.2500])
    """
    if exponent == 1:
        return x
    tiny = torch.finfo(x.dtype).tiny
    return torch.where(x > 0, x.clamp_min(tiny) ** exponent, torch.zeros_like(x))
