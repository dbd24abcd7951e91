"""DSC++ and the generalised Dice loss as their authors define them.

DSC++ (Yeung et al. 2023, reference code mlyg/DicePlusPlus) averages ``1 - DSC++`` over both
classes, background included. The generalised Dice loss (Sudre et al. 2017) keeps its formula's
value when a class is absent from the reference: the smoothing must not swamp the ``1/V^2``
weights of large volumes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lossbench.losses import create_loss, dice_pp_loss, generalized_dice_loss
from tests._helpers import perfect_logits, random_case

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)

# the 2x2x2 case of test_hand_computed: p = [3/4, 1/4, 1/2, 1/2, 1/4 x 4], y = [1, 1, 0 x 6]
P = torch.tensor([0.75, 0.25, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25], dtype=torch.float64)
LOGITS = torch.log(P / (1 - P)).reshape(1, 1, 2, 2, 2)
TARGET = torch.tensor([1, 1, 0, 0, 0, 0, 0, 0], dtype=torch.float64).reshape(1, 1, 2, 2, 2)
# lesion: TP = 1, sum (p(1-y))^2 = 2/4 + 4/16 = 0.75, sum ((1-p)y)^2 = 1/16 + 9/16 = 0.625;
# background (1-p against 1-y): TP = 1/2 + 1/2 + 4 * 3/4 = 4, its FN^2 and FP^2 are the
# lesion's FP^2 and FN^2
DSCPP_LESION = 2 / (2 + 0.75 + 0.625)
DSCPP_BACKGROUND = 8 / (8 + 0.75 + 0.625)


def test_dice_pp_averages_background_and_lesion() -> None:
    value = dice_pp_loss(LOGITS, TARGET, smooth=0.0)
    expected = ((1 - DSCPP_LESION) + (1 - DSCPP_BACKGROUND)) / 2
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_dice_pp_pools_over_the_batch_or_averages_cases() -> None:
    # case 2: a perfect, confident prediction of the same target (DSC++ = 1 for both classes)
    logits = torch.cat([LOGITS, perfect_logits(TARGET, 50.0)])
    target = torch.cat([TARGET, TARGET])
    case1 = ((1 - DSCPP_LESION) + (1 - DSCPP_BACKGROUND)) / 2
    per_case = dice_pp_loss(logits, target, smooth=0.0, reduction="none")
    assert per_case.tolist() == pytest.approx([case1, 0.0], rel=1e-12, abs=1e-12)
    unpooled = dice_pp_loss(logits, target, smooth=0.0, batch=False)
    assert unpooled.item() == pytest.approx(case1 / 2, rel=1e-12)
    # pooled: lesion TP = 1 + 2, background TP = 4 + 6, error sums from case 1 only
    pooled = ((1 - 6 / (6 + 1.375)) + (1 - 20 / (20 + 1.375))) / 2
    assert dice_pp_loss(logits, target, smooth=0.0).item() == pytest.approx(pooled, rel=1e-12)


def _dice_pp_reference(p: np.ndarray, y: np.ndarray, gamma: float, smooth: float) -> np.ndarray:
    """Yeung et al.'s DSC++ loss per case (B, N): both classes, mean of ``1 - DSC++``."""
    losses = []
    for pc, yc in ((p, y), (1 - p, 1 - y)):
        tp = (pc * yc).sum(1)
        fn = ((yc * (1 - pc)) ** gamma).sum(1)
        fp = (((1 - yc) * pc) ** gamma).sum(1)
        losses.append(1 - (2 * tp + smooth) / (2 * tp + fn + fp + smooth))
    return np.mean(losses, axis=0)


@st.composite
def soft_cases(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (draw(st.integers(1, 3)), 1, *draw(st.lists(st.integers(1, 4), min_size=3, max_size=3)))
    logits = draw(arrays(np.float64, shape, elements=st.floats(-8, 8)))
    target = draw(arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0, 0.3, 0.9])))
    return torch.from_numpy(logits), torch.from_numpy(target)


@SETTINGS
@given(case=soft_cases(), gamma=st.sampled_from([1.0, 2.0, 3.0]))
def test_dice_pp_matches_the_reference_formula_per_case(
    case: tuple[torch.Tensor, torch.Tensor], gamma: float
) -> None:
    logits, target = case
    ours = dice_pp_loss(logits, target, gamma=gamma, reduction="none")
    p = torch.sigmoid(logits).flatten(1).numpy()
    expected = _dice_pp_reference(p, target.flatten(1).numpy(), gamma, 1e-5)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(case=soft_cases())
def test_dice_pp_with_gamma_one_is_the_mean_dice_of_both_classes(
    case: tuple[torch.Tensor, torch.Tensor],
) -> None:
    logits, target = case
    for batch in (True, False):
        dice = create_loss("dice", batch=batch)
        both = (dice(logits, target) + dice(-logits, 1 - target)) / 2
        ours = dice_pp_loss(logits, target, gamma=1.0, batch=batch)
        torch.testing.assert_close(ours, both, rtol=1e-10, atol=1e-12)


def test_dice_pp_two_channels_equal_one() -> None:
    logits, target = random_case(0)
    two = torch.cat([torch.zeros_like(logits), logits], 1)
    torch.testing.assert_close(dice_pp_loss(two, target), dice_pp_loss(logits, target))


def _sudre(p: np.ndarray, y: np.ndarray) -> float:
    """Sudre's generalised Dice loss of one unit (flat arrays), no smoothing; a class absent from
    the reference takes the largest finite weight (MONAI's convention)."""
    probs, labels = (p, 1 - p), (y, 1 - y)
    volumes = np.array([lab.sum() for lab in labels])
    with np.errstate(divide="ignore"):
        weights = 1 / volumes**2
    weights[~np.isfinite(weights)] = weights[np.isfinite(weights)].max()
    inter = sum(w * (pc * yc).sum() for w, pc, yc in zip(weights, probs, labels, strict=True))
    union = sum(w * (pc.sum() + yc.sum()) for w, pc, yc in zip(weights, probs, labels, strict=True))
    return float(1 - 2 * inter / union)


@pytest.mark.parametrize("batch", [True, False])
def test_generalized_dice_on_an_empty_target_keeps_sudres_value(batch: bool) -> None:
    # a training batch of four 80^3 patches without lesion and a prediction of lesion everywhere:
    # the formula gives 1 (no overlap of either class); 1e-5 added to sums weighted 1/V^2 ~ 1e-13
    # gave 0.089 pooled and 0.281 per case
    logits = torch.full((4, 1, 80, 80, 80), 20.0)
    target = torch.zeros_like(logits)
    value = generalized_dice_loss(logits, target, batch=batch)
    assert value.item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("batch", [True, False])
@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_generalized_dice_on_one_class_targets_with_a_fair_prediction(
    batch: bool, fill: float
) -> None:
    logits, _ = random_case(7, shape=(2, 1, 30, 30, 30))
    target = torch.full_like(logits, fill)
    p = torch.sigmoid(logits)
    expected = [_sudre(p[i].flatten().numpy(), target[i].flatten().numpy()) for i in range(2)]
    if batch:
        expected = [_sudre(p.flatten().numpy(), target.flatten().numpy())]
    value = generalized_dice_loss(logits, target, batch=batch)
    assert value.item() == pytest.approx(float(np.mean(expected)), rel=1e-6)


@st.composite
def binary_cases(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (draw(st.integers(1, 3)), 1, *draw(st.lists(st.integers(2, 6), min_size=3, max_size=3)))
    logits = draw(arrays(np.float64, shape, elements=st.floats(-10, 10)))
    lesion = draw(st.floats(0.0, 1.0))
    target = draw(arrays(np.bool_, shape, elements=st.booleans())) & (
        draw(arrays(np.float64, shape, elements=st.floats(0, 1))) <= lesion
    )
    return torch.from_numpy(logits), torch.from_numpy(target.astype(np.float64))


@SETTINGS
@given(case=binary_cases())
def test_generalized_dice_is_sudres_formula_up_to_the_smoothing(
    case: tuple[torch.Tensor, torch.Tensor],
) -> None:
    logits, target = case
    p, y = torch.sigmoid(logits).numpy(), target.numpy()
    per_case = [_sudre(p[i].ravel(), y[i].ravel()) for i in range(len(p))]
    ours = generalized_dice_loss(logits, target, reduction="none")
    # the smoothing acts on the rarest class's voxel counts: at most 1e-5 / (one voxel)
    np.testing.assert_allclose(ours.numpy(), per_case, rtol=0, atol=2e-5)
    pooled = generalized_dice_loss(logits, target)
    assert pooled.item() == pytest.approx(_sudre(p.ravel(), y.ravel()), abs=2e-5)
    assert math.isfinite(pooled.item())
