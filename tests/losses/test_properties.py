"""Invariants every registered loss must keep, parametrised over the registry.

A loss added to the registry (built-in or plugin) is covered without writing a test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import Tensor

from lossbench.losses import create_loss, get_loss_class, list_losses
from tests._helpers import DEPTH_TWO, NEGATIVE, NOT_ZERO_AT_BEST, perfect_logits

Case = tuple[Tensor, Tensor]

ALL = list_losses()


def _reads_layout(name: str) -> bool:
    """Boundary losses and losses with target maps (distances, components) read the spatial
    layout, and so do the released unified focal losses (their classes are depth slices)."""
    cls = get_loss_class(name)
    maps = getattr(getattr(cls, "function", None), "maps", None)
    return getattr(cls, "family", "") == "boundary" or bool(maps) or name in DEPTH_TWO


# permuting voxels changes the losses that read the spatial layout, by design
VOXELWISE = [n for n in ALL if not _reads_layout(n)]
# the boundary loss's level-set term is negative inside the lesion, as in its paper: its
# minimum is below 0 (its own value at the optimum is tested in test_boundary_fidelity.py);
# the defects of the released variants (tests/losses/test_released.py) move their minimum
MINIMUM_ZERO = [n for n in ALL if n != "boundary" and n not in NOT_ZERO_AT_BEST]
NON_NEGATIVE = [n for n in ALL if n != "boundary" and n not in NEGATIVE]
SETTINGS = settings(max_examples=20, deadline=None, derandomize=True)


def assert_same(actual: Tensor, expected: Tensor) -> None:
    """Equal up to summation order.

    Two summation orders of the same float64 numbers agree to ~1e-16, but the unified focal
    losses take a square root of (1 - index), which turns 1e-16 near 0 into 1e-8.
    """
    torch.testing.assert_close(actual, expected, rtol=1e-7, atol=1e-7)


@st.composite
def cases(draw: st.DrawFn, extreme: bool = True) -> Case:
    """(logits float32 (B,1,D,H,W), binary target float32) with small random shapes."""
    batch = draw(st.integers(1, 3))
    spatial = tuple(draw(st.lists(st.integers(1, 5), min_size=3, max_size=3)))
    shape = (batch, 1, *spatial)
    bound = 1e4 if extreme else 20.0
    elements = st.floats(-bound, bound, allow_nan=False, width=32)
    if extreme:
        elements = st.one_of(elements, st.sampled_from([-1e4, 1e4, 0.0]))
    logits = draw(arrays(np.float32, shape, elements=elements))
    target = draw(arrays(np.bool_, shape))
    return torch.from_numpy(logits), torch.from_numpy(target.astype(np.float32))


def _fits(name: str, case: Case) -> None:
    """Skip a case a loss refuses by design: the released unified focal losses need two slices
    on the last axis (their refusal of one is tested in test_released.py)."""
    assume(name not in DEPTH_TWO or case[0].shape[-1] >= 2)


def _value_and_grad(name: str, logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor | None]:
    logits = logits.clone().requires_grad_(True)
    value = create_loss(name)(logits, target)
    value.sum().backward()
    return value.detach(), logits.grad


@pytest.mark.parametrize("name", ALL)
@SETTINGS
@given(case=cases())
def test_finite_non_negative_with_finite_gradients(name: str, case: Case) -> None:
    _fits(name, case)
    value, grad = _value_and_grad(name, *case)
    assert torch.isfinite(value).all(), value
    assert name not in NON_NEGATIVE or (value >= 0).all(), value
    assert grad is not None and torch.isfinite(grad).all()


@pytest.mark.parametrize("name", MINIMUM_ZERO)
@SETTINGS
@given(case=cases())
def test_perfect_confident_prediction_is_near_zero(name: str, case: Case) -> None:
    _, target = case
    for reduction in ("mean", "none"):
        value = create_loss(name, reduction=reduction)(perfect_logits(target), target)
        assert (value.abs() < 1e-4).all(), (reduction, value)


@pytest.mark.parametrize("name", VOXELWISE)
@SETTINGS
@given(case=cases(extreme=False), seed=st.integers(0, 2**31 - 1))
def test_invariant_to_permuting_voxels_jointly(name: str, case: Case, seed: int) -> None:
    logits, target = (t.double() for t in case)
    batch = logits.shape[0]
    perm = torch.randperm(logits[0].numel(), generator=torch.Generator().manual_seed(seed))
    shuffled = [t.reshape(batch, -1)[:, perm].reshape(t.shape) for t in (logits, target)]
    loss = create_loss(name, reduction="none")
    assert_same(loss(*shuffled), loss(logits, target))


@pytest.mark.parametrize("name", ALL)
@SETTINGS
@given(case=cases())
def test_two_channel_softmax_equals_one_channel_sigmoid(name: str, case: Case) -> None:
    _fits(name, case)
    logits, target = case
    two = torch.cat([torch.zeros_like(logits), logits], dim=1)
    loss = create_loss(name, reduction="none")
    assert torch.equal(loss(two, target), loss(logits, target))


@pytest.mark.parametrize("name", ALL)
@SETTINGS
@given(case=cases(extreme=False))
def test_float32_close_to_float64(name: str, case: Case) -> None:
    _fits(name, case)
    logits, target = case
    loss = create_loss(name, reduction="none")
    single, double = loss(logits, target), loss(logits.double(), target.double())
    assert single.dtype == torch.float32 and double.dtype == torch.float64
    # float32 rounds p = sigmoid(z) to 1 beyond z ~ 17, so every count is summed from the voxels
    # directly (no sum y - TP, no 1 - index); what remains is float32 summation error
    torch.testing.assert_close(single.double(), double, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in ALL if n not in DEPTH_TWO])
@pytest.mark.parametrize("z", [-20.0, -12.0, 12.0, 16.0, 20.0])
@pytest.mark.parametrize("label", [0.0, 1.0])
def test_float32_holds_for_one_confident_voxel(name: str, z: float, label: float) -> None:
    # the unified focal losses once derived FN as sum y - TP and 1 - mTI as 1 minus the index:
    # at z = 12 on a lesion voxel float32 was 0.11192 against float64's 0.11152
    logits, target = torch.full((1, 1, 1, 1, 1), z), torch.full((1, 1, 1, 1, 1), label)
    loss = create_loss(name, reduction="none")
    single, double = loss(logits, target), loss(logits.double(), target.double())
    torch.testing.assert_close(single.double(), double, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ALL)
@SETTINGS
@given(case=cases(extreme=False))
def test_reduction_none_is_per_case(name: str, case: Case) -> None:
    _fits(name, case)
    logits, target = (t.double() for t in case)
    per_case = create_loss(name, reduction="none")(logits, target)
    assert per_case.shape == (logits.shape[0],)
    # per case == each case alone; the mean of them == batch=False
    alone = torch.stack(
        [create_loss(name)(logits[i : i + 1], target[i : i + 1]) for i in range(len(logits))]
    )
    assert_same(per_case, alone)
    torch.testing.assert_close(per_case.mean(), create_loss(name, batch=False)(logits, target))


Config = tuple[str, dict[str, float]]
IDENTITIES: list[tuple[Config, Config]] = [
    # with smoothing s, Tversky(0.5, 0.5) has 2s where Dice has s: the identity needs s = 0
    (("tversky", {"fp_weight": 0.5, "fn_weight": 0.5, "smooth": 0.0}), ("dice", {"smooth": 0.0})),
    (("hytver", {"gamma": 0.0, "alpha": 0.8}), ("tversky", {"fp_weight": 0.2, "fn_weight": 0.8})),
    (("hytver", {"gamma": 1.0, "beta": 0.3}), ("combo", {"alpha": 1.0, "beta": 0.3})),
    (("focal_tversky", {"gamma": 1.0}), ("tversky", {})),
    (("weighted_ce", {"pos_weight": 0.5}), ("ce", {})),
    (("combo", {"alpha": 0.0}), ("dice", {})),
]


@pytest.mark.parametrize(("left", "right"), IDENTITIES, ids=lambda x: x[0])
@SETTINGS
@given(case=cases(extreme=False))
def test_identities(left: Config, right: Config, case: Case) -> None:
    logits, target = (t.double() for t in case)
    for batch in (True, False):
        a = create_loss(left[0], batch=batch, **left[1])(logits, target)
        b = create_loss(right[0], batch=batch, **right[1])(logits, target)
        assert_same(a, b)


@SETTINGS
@given(case=cases(extreme=False))
def test_sums_of_terms(case: Case) -> None:
    logits, target = (t.double() for t in case)
    dice, ce, focal = (create_loss(n)(logits, target) for n in ("dice", "ce", "focal"))
    torch.testing.assert_close(create_loss("dice_ce")(logits, target), dice + ce)
    torch.testing.assert_close(create_loss("focal_dice")(logits, target), dice + focal)
    half_ce = create_loss("focal", alpha=0.5, gamma=0.0)(logits, target)
    torch.testing.assert_close(half_ce, ce / 2)
