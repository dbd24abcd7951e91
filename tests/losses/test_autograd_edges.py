"""Second derivatives and target gradients through the hand-written backward passes.

The oracle is the same loss with its custom autograd Functions swapped for the plain formulas
below (autograd differentiates those to any order and with respect to the target as well).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses import Loss, _core, create_loss, distribution, list_losses
from lossbench.losses._core import overlap_and_wce, overlap_sums
from lossbench.losses.distribution import focal_sums
from tests._helpers import random_case

ALL = list_losses()


def _unit_sum(x: Tensor, pooled: bool) -> Tensor:
    return x.sum().reshape(1) if pooled else x.flatten(1).sum(1)


def plain_soft_overlap(
    z: Tensor, y: Tensor, pooled: bool, beta: float | None
) -> tuple[Tensor, Tensor, Tensor]:
    """(TP, sum p, sum of -[beta y log p + (1-beta)(1-y) log(1-p)]) by plain autograd."""
    p = torch.sigmoid(z)
    tp, sum_p = _unit_sum(p * y, pooled), _unit_sum(p, pooled)
    if beta is None:
        return tp, sum_p, torch.zeros_like(tp)
    voxels = -(beta * y * F.logsigmoid(z) + (1 - beta) * (1 - y) * F.logsigmoid(-z))
    return tp, sum_p, _unit_sum(voxels, pooled)


def plain_focal_sums(
    z: Tensor, y: Tensor, alpha: float, gamma_pos: float, gamma_neg: float, pooled: bool
) -> Tensor:
    """Sum of -alpha y (1-p)^gamma_pos log p - (1-alpha)(1-y) p^gamma_neg log(1-p)."""
    p, q = torch.sigmoid(z), torch.sigmoid(-z)
    pos = alpha * y * q**gamma_pos * F.logsigmoid(z)
    neg = (1 - alpha) * (1 - y) * p**gamma_neg * F.logsigmoid(-z)
    return _unit_sum(-(pos + neg), pooled)


@contextmanager
def plain_functions() -> Iterator[None]:
    """Every loss computed with the plain formulas in place of the custom Functions."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_core._SoftOverlap, "apply", staticmethod(plain_soft_overlap))
        patch.setattr(distribution._FocalSums, "apply", staticmethod(plain_focal_sums))
        yield


def _case(seed: int = 3) -> tuple[Tensor, Tensor, Tensor]:
    """float64 logits, a soft target in [0, 1] and a direction, (2, 1, 4, 5, 3)."""
    logits, target = random_case(seed, shape=(2, 1, 4, 5, 3))
    gen = torch.Generator().manual_seed(seed)
    soft = 0.8 * target + 0.2 * torch.rand(target.shape, generator=gen, dtype=torch.float64)
    return logits, soft, torch.randn(logits.shape, generator=gen, dtype=torch.float64)


def _hvp(
    loss: Callable[[Tensor, Tensor], Tensor], logits: Tensor, target: Tensor, v: Tensor
) -> Tensor:
    z = logits.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(z, target).sum(), z, create_graph=True)
    (hvp,) = torch.autograd.grad((grad * v).sum(), z)
    return hvp


def test_plain_functions_replace_the_custom_ones() -> None:
    z = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    y = torch.ones(1, 3, dtype=torch.float64)
    custom = overlap_and_wce(z, y, True, 0.7)[0].grad_fn
    with plain_functions():
        plain = overlap_and_wce(z, y, True, 0.7)[0].grad_fn
        focal = focal_sums(z, y, 0.5, 2.0, 2.0, True).grad_fn
    assert type(custom).__name__ == "_SoftOverlapBackward"
    assert "_SoftOverlap" not in type(plain).__name__
    assert "_FocalSums" not in type(focal).__name__


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_hessian_vector_product_matches_plain_autograd(name: str, reduction: str) -> None:
    logits, target, v = _case()
    target = (target > 0.5).double()  # boundary losses read a binary target's distance maps
    loss = create_loss(name, reduction=reduction)
    try:
        actual = _hvp(loss, logits, target, v)
    except RuntimeError as err:  # a plugin may refuse double backward, loudly
        assert not isinstance(loss, Loss), f"built-in {name} refused double backward: {err}"
        assert re.search(r"second derivative|double backward|differentiate twice", str(err))
        return
    with plain_functions():
        expected = _hvp(loss, logits, target, v)
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_target_gradient_matches_plain_autograd(name: str, reduction: str) -> None:
    logits, target, _ = _case(4)
    loss = create_loss(name, reduction=reduction)

    def grads() -> tuple[Tensor | None, Tensor | None]:
        z, y = logits.clone().requires_grad_(True), target.clone().requires_grad_(True)
        loss(z, y).sum().backward()
        return z.grad, y.grad

    actual = grads()
    with plain_functions():
        expected = grads()
    assert actual[1] is not None
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-12)


def test_soft_labels_can_be_learned_through_dice() -> None:
    # d dice / d y_i = -(2 p_i (sum p + sum y) - 2 TP) / (sum p + sum y)^2 (smoothing 0)
    z = torch.tensor([[[0.0, 2.0, -1.0]]], dtype=torch.float64)
    y = torch.tensor([[[1.0, 0.5, 0.0]]], dtype=torch.float64, requires_grad=True)
    create_loss("dice", smooth=0.0)(z, y).backward()
    p = torch.sigmoid(z).flatten()
    tp, total = float((p * y.detach().flatten()).sum()), float(p.sum()) + 1.5
    expected = -(2 * p * total - 2 * tp) / total**2
    assert y.grad is not None
    torch.testing.assert_close(y.grad.flatten(), expected)


def _soft_pair(seed: int, shape: tuple[int, ...] = (2, 3, 4)) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    z = (torch.randn(shape, generator=gen, dtype=torch.float64) * 3).requires_grad_(True)
    y = torch.rand(shape, generator=gen, dtype=torch.float64).requires_grad_(True)
    return z, y


@pytest.mark.parametrize("pooled", [True, False])
@pytest.mark.parametrize("beta", [None, 0.0, 0.3, 0.5, 1.0])
def test_soft_overlap_second_derivatives(pooled: bool, beta: float | None) -> None:
    def weighted(z: Tensor, y: Tensor) -> Tensor:
        if beta is None:
            tp, sum_p, _ = overlap_sums(z, y, pooled)
            return 2 * tp + 3 * sum_p
        tp, sum_p, _, wce = overlap_and_wce(z, y, pooled, beta)
        return 2 * tp + 3 * sum_p + 5 * wce

    inputs = _soft_pair(6)
    assert torch.autograd.gradcheck(weighted, inputs)
    assert torch.autograd.gradgradcheck(weighted, inputs)


@pytest.mark.parametrize("pooled", [True, False])
@pytest.mark.parametrize(
    ("alpha", "gamma_pos", "gamma_neg"),
    [(0.25, 2.0, 2.0), (0.6, 0.0, 0.5), (0.7, 0.0, 0.0), (0.3, 0.5, 1.5), (1.0, 3.0, 0.0)],
)
def test_focal_sums_second_derivatives(
    pooled: bool, alpha: float, gamma_pos: float, gamma_neg: float
) -> None:
    inputs = _soft_pair(7)
    assert torch.autograd.gradcheck(
        lambda z, y: focal_sums(z, y, alpha, gamma_pos, gamma_neg, pooled), inputs
    )
    assert torch.autograd.gradgradcheck(
        lambda z, y: focal_sums(z, y, alpha, gamma_pos, gamma_neg, pooled), inputs
    )


def test_target_with_grad_raises_no_warning() -> None:
    z = torch.zeros(1, 1, 2, 2, 2)
    y = torch.ones(1, 1, 2, 2, 2, requires_grad=True)
    warn_always = torch.is_warn_always_enabled()
    torch.set_warn_always(True)  # torch warns once per process unless told otherwise
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            create_loss("dice")(z, y).backward()
    finally:
        torch.set_warn_always(warn_always)
