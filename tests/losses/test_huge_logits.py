"""Confident logits far beyond where sigmoid saturates: the cross-entropy terms are summed per
voxel in their stable form, so a correct prediction costs 0 at any magnitude."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import Tensor

from lossbench.losses import create_loss, list_losses
from lossbench.losses._core import overlap_and_wce
from lossbench.losses.distribution import focal_sums
from tests._helpers import NOT_ZERO_AT_BEST

# boundary's level-set term is negative inside the lesion, so its minimum is not 0; nor is that
# of the released variants whose defects move it
MINIMUM_ZERO = [n for n in list_losses() if n != "boundary" and n not in NOT_ZERO_AT_BEST]
MAGNITUDES = [1e4, 1e20, 1e30]
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def _correct(target: Tensor, magnitude: float, dtype: torch.dtype) -> Tensor:
    return ((target * 2 - 1) * magnitude).to(dtype)


def _lesion_cube(size: int = 64, lesion: int = 10) -> Tensor:
    target = torch.zeros(1, 1, size, size, size)
    target[..., :lesion, :lesion, :lesion] = 1
    return target


@pytest.mark.parametrize(
    ("name", "magnitude", "dtype"),
    [("ce", 1e30, torch.float32), ("hytver", 1e20, torch.float64), ("combo", 1e30, torch.float32)],
)
def test_correct_huge_logits_cost_nothing(name: str, magnitude: float, dtype: torch.dtype) -> None:
    target = _lesion_cube().to(dtype)
    value = create_loss(name)(_correct(target, magnitude, dtype), target)
    assert abs(value.item()) < 1e-6, value


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 0.7, 1.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_weighted_ce_sum_is_exact_for_correct_huge_logits(beta: float, dtype: torch.dtype) -> None:
    target = _lesion_cube(16, 5).to(dtype).squeeze(1)
    wrong = _correct(1 - target, 1e20, dtype)  # every voxel wrong by 1e20: -log p = 1e20
    for pooled in (True, False):
        right = overlap_and_wce(_correct(target, 1e20, dtype), target, pooled, beta)[3]
        assert (right == 0).all(), right
        total = overlap_and_wce(wrong, target, pooled, beta)[3]
        n_lesion = target.flatten(1).sum(1)
        expected = 1e20 * (beta * n_lesion + (1 - beta) * (target[0].numel() - n_lesion))
        expected = expected.sum().reshape(1) if pooled else expected
        torch.testing.assert_close(total, expected.to(dtype), rtol=1e-5, atol=0)


@pytest.mark.parametrize(("gamma_pos", "gamma_neg"), [(0.0, 0.0), (2.0, 2.0), (0.0, 0.5)])
def test_focal_sum_is_exact_for_correct_huge_logits(gamma_pos: float, gamma_neg: float) -> None:
    target = _lesion_cube().squeeze(1)
    logits = _correct(target, 1e30, torch.float32)
    for pooled in (True, False):
        total = focal_sums(logits, target, 0.6, gamma_pos, gamma_neg, pooled)
        assert (total == 0).all(), total


@st.composite
def correct_cases(draw: st.DrawFn) -> tuple[Tensor, Tensor]:
    """(huge correct logits (B,1,D,H,W) in any float dtype that holds them, binary target)."""
    batch = draw(st.integers(1, 3))
    shape = (batch, 1, *draw(st.lists(st.integers(1, 5), min_size=3, max_size=3)))
    target = torch.from_numpy(draw(arrays(np.bool_, shape)).astype(np.float32))
    magnitude = draw(st.sampled_from(MAGNITUDES))
    dtype = draw(st.sampled_from([d for d in DTYPES if torch.finfo(d).max > magnitude]))
    return _correct(target, magnitude, dtype), target.to(dtype)


@pytest.mark.parametrize("name", MINIMUM_ZERO)
@settings(max_examples=30, deadline=None, derandomize=True)
@given(case=correct_cases())
def test_correct_huge_logits_are_a_minimum(name: str, case: tuple[Tensor, Tensor]) -> None:
    logits, target = case
    for reduction in ("mean", "none"):
        for batch in (True, False):
            value = create_loss(name, reduction=reduction, batch=batch)(logits, target)
            assert torch.isfinite(value).all() and (value.abs() < 1e-6).all(), (reduction, value)
