"""Analytic gradients (hand-written backward passes included) against finite differences."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lossbench.losses import create_loss, list_losses
from lossbench.losses._core import overlap_and_wce, overlap_sums
from lossbench.losses.distribution import focal_sums
from tests._helpers import random_case


def _logits_away_from_threshold(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    # keep |z| > 0.05 so a finite-difference step never flips the p > 0.5 mask of boundary losses
    logits, target = random_case(seed, shape=(2, 1, 4, 5, 3))
    logits = torch.where(logits.abs() < 0.05, logits.sign() * 0.05 + 0.05, logits)
    return logits, target


@pytest.mark.parametrize("name", list_losses())
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradcheck_every_loss(name: str, reduction: str) -> None:
    logits, target = _logits_away_from_threshold(5)
    loss = create_loss(name, reduction=reduction)
    assert torch.autograd.gradcheck(
        lambda z: loss(z, target), (logits.requires_grad_(True),), eps=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("pooled", [True, False])
@pytest.mark.parametrize(
    ("alpha", "gamma_pos", "gamma_neg"),
    [(0.25, 2.0, 2.0), (0.6, 0.0, 0.5), (0.7, 0.0, 0.0), (0.3, 0.5, 1.5), (1.0, 3.0, 0.0)],
)
def test_gradcheck_focal_sums_soft_labels(
    pooled: bool, alpha: float, gamma_pos: float, gamma_neg: float
) -> None:
    gen = torch.Generator().manual_seed(0)
    z = (torch.randn(2, 3, 4, generator=gen, dtype=torch.float64) * 3).requires_grad_(True)
    y = torch.rand(2, 3, 4, generator=gen, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda z: focal_sums(z, y, alpha, gamma_pos, gamma_neg, pooled), (z,)
    )


@pytest.mark.parametrize("pooled", [True, False])
def test_gradcheck_overlap_sums_soft_labels(pooled: bool) -> None:
    gen = torch.Generator().manual_seed(1)
    z = (torch.randn(2, 3, 4, generator=gen, dtype=torch.float64) * 3).requires_grad_(True)
    y = torch.rand(2, 3, 4, generator=gen, dtype=torch.float64)

    def weighted(z: torch.Tensor) -> torch.Tensor:
        # weigh the two outputs differently so both gradient paths are exercised
        tp, sum_p, _ = overlap_sums(z, y, pooled)
        return 2 * tp + 3 * sum_p

    assert torch.autograd.gradcheck(weighted, (z,))


@pytest.mark.parametrize("pooled", [True, False])
@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 1.0])
def test_overlap_and_weighted_ce_soft_labels(pooled: bool, beta: float) -> None:
    gen = torch.Generator().manual_seed(2)
    z = (torch.randn(2, 3, 4, generator=gen, dtype=torch.float64) * 3).requires_grad_(True)
    y = torch.rand(2, 3, 4, generator=gen, dtype=torch.float64)
    wce = overlap_and_wce(z, y, pooled, beta)[3]
    voxels = -(beta * y * F.logsigmoid(z) + (1 - beta) * (1 - y) * F.logsigmoid(-z))
    expected = voxels.sum().reshape(1) if pooled else voxels.flatten(1).sum(1)
    torch.testing.assert_close(wce, expected)

    def weighted(z: torch.Tensor) -> torch.Tensor:
        tp, sum_p, _, wce = overlap_and_wce(z, y, pooled, beta)
        return 2 * tp + 3 * sum_p + 5 * wce

    assert torch.autograd.gradcheck(weighted, (z,))
