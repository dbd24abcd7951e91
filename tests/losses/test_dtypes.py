"""Half-precision logits: every loss is computed in float32 and returned in float32, with the
gradient in the dtype of the logits."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from lossbench.losses import create_loss, lesion_input, list_losses
from tests._helpers import random_case

ALL = list_losses()
HALF = [torch.float16, torch.bfloat16]


def _cube_target(size: int = 64, lesion: int = 10) -> Tensor:
    """(1, 1, size^3) binary target holding one lesion^3 cube."""
    target = torch.zeros(1, 1, size, size, size)
    target[..., :lesion, :lesion, :lesion] = 1
    return target


def _value_and_grad(name: str, logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    x = logits.detach().clone().requires_grad_(True)
    value = create_loss(name, reduction="none")(x, target)
    value.sum().backward()
    assert x.grad is not None
    return value.detach(), x.grad


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("name", ALL)
def test_half_logits_give_the_float32_loss(name: str, dtype: torch.dtype) -> None:
    logits, target = random_case(8, shape=(2, 1, 6, 7, 5), dtype=torch.float32)
    half = logits.to(dtype)
    value, grad = _value_and_grad(name, half, target)
    expected, expected_grad = _value_and_grad(name, half.float(), target)
    assert value.dtype == torch.float32 and grad.dtype == dtype
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(grad, expected_grad.to(dtype))


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("name", ALL)
def test_half_sums_beyond_the_half_range(name: str, dtype: torch.dtype) -> None:
    # 64^3 voxels at p = 1/2: sum p = 131072 is beyond float16's largest value, 65504, and
    # bfloat16 cannot count past 256 in steps of one
    logits, target = torch.zeros(1, 1, 64, 64, 64, dtype=dtype), _cube_target()
    value, grad = _value_and_grad(name, logits, target)
    expected, _ = _value_and_grad(name, logits.float(), target)
    assert value.dtype == torch.float32 and grad.dtype == dtype
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    torch.testing.assert_close(value, expected)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ce", math.log(2)),  # was inf
        ("dice", 1 - 1000 / (131072 + 1000)),  # was 1.0: sum p overflowed to inf
        ("generalized_dice", None),  # was nan
        ("asymmetric_unified_focal", None),  # was nan
    ],
)
def test_float16_zeros_at_64_cubed(name: str, expected: float | None) -> None:
    logits, target = torch.zeros(1, 1, 64, 64, 64, dtype=torch.float16), _cube_target()
    value = create_loss(name)(logits, target)
    reference = create_loss(name)(logits.float(), target)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, reference)
    if expected is not None:
        assert value.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("dtype", [*HALF, torch.float32, torch.float64], ids=str)
def test_lesion_input_computes_in_float32_or_float64(dtype: torch.dtype) -> None:
    logits = torch.zeros(1, 2, 3, dtype=dtype, requires_grad=True)
    z, y = lesion_input(logits, torch.ones(1, 3, dtype=torch.bool))
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    assert z.dtype == y.dtype == compute
    z.sum().backward()
    assert logits.grad is not None and logits.grad.dtype == dtype


def test_float32_and_float64_logits_are_not_copied() -> None:
    for dtype in (torch.float32, torch.float64):
        logits = torch.zeros(1, 1, 3, dtype=dtype)
        z, _ = lesion_input(logits, torch.ones(1, 3))
        assert z.data_ptr() == logits.data_ptr()


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_two_channel_half_logits(dtype: torch.dtype) -> None:
    logits, target = random_case(9, shape=(2, 1, 4, 4, 4), dtype=torch.float32)
    two = torch.cat([torch.zeros_like(logits), logits], dim=1).to(dtype)
    loss = create_loss("hytver", reduction="none")
    assert torch.equal(loss(two, target), loss(logits.to(dtype), target))
