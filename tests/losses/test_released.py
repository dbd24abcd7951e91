"""Each defect of the paper's released losses, reproduced on a case small enough to check by hand
(the defects are those the authors'-code notes list; the formulas are in
lossbench/losses/released.py)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from lossbench.losses import create_loss
from tests._helpers import random_case

CONFIDENT = 30.0  # |logit| at which p is 1 or 0 to double precision's eye


def _case(*labels_and_logits: tuple[float, float]) -> tuple[Tensor, Tensor]:
    """(logits, target) of shape (1, 1, 1, 1, n) from (label, logit) pairs."""
    target = torch.tensor([y for y, _ in labels_and_logits], dtype=torch.float64)
    logits = torch.tensor([z for _, z in labels_and_logits], dtype=torch.float64)
    return logits.view(1, 1, 1, 1, -1), target.view(1, 1, 1, 1, -1)


def _lesion_grad(name: str, logits: Tensor, target: Tensor, **params: float) -> Tensor:
    x = logits.clone().requires_grad_(True)
    create_loss(name, **params)(x, target).backward()
    assert x.grad is not None
    return x.grad.flatten()


def test_released_hytver_weighs_false_positives_where_the_paper_weighs_false_negatives() -> None:
    # two lesion voxels and two background ones; one error each way, the Tversky term alone
    found = [(1.0, CONFIDENT), (0.0, -CONFIDENT)]
    one_fp = _case(*found, (1.0, CONFIDENT), (0.0, CONFIDENT))
    one_fn = _case(*found, (1.0, -CONFIDENT), (0.0, -CONFIDENT))
    for name, fp_cost, fn_cost in [("hytver_released", 0.7, 0.3), ("hytver", 0.3, 0.7)]:
        loss = create_loss(name, gamma=0.0, smooth=0.0)
        # TP = 2 with one FP, TP = 1 with one FN: 1 - TI = w / (TP + w)
        assert loss(*one_fp).item() == pytest.approx(fp_cost / (2 + fp_cost), rel=1e-9)
        assert loss(*one_fn).item() == pytest.approx(fn_cost / (1 + fn_cost), rel=1e-9)


def test_released_cross_entropy_is_linear_in_p_and_pushes_lesions_down() -> None:
    # gamma = 1: the cross-entropy alone, with the label clipped to [1e-3, 1 - 1e-3] and its
    # background term added: d/dp on a lesion voxel = -0.3 ln 0.999 - 0.7 ln 0.001 > 0
    slope = -0.3 * math.log(0.999) - 0.7 * math.log(0.001)
    values = []
    for p in (0.2, 0.5, 0.8):
        logits, target = _case((1.0, math.log(p / (1 - p))))
        values.append(create_loss("hytver_released", gamma=1.0)(logits, target).item())
    assert values[1] - values[0] == pytest.approx(0.3 * slope, rel=1e-9)
    assert values[2] - values[1] == pytest.approx(0.3 * slope, rel=1e-9)
    lesion = _case((1.0, 0.0))
    assert _lesion_grad("hytver_released", *lesion, gamma=1.0).item() > 0  # descent lowers p
    assert _lesion_grad("hytver", *lesion, gamma=1.0).item() < 0  # the published loss raises it


def test_released_combo_shares_the_swapped_cross_entropy() -> None:
    logits, target = random_case(4, shape=(2, 1, 4, 4, 4))
    ce_only = create_loss("combo_released", alpha=1.0)(logits, target)
    same = create_loss("hytver_released", gamma=1.0, beta=0.5)(logits, target)
    torch.testing.assert_close(ce_only, same)
    dice_only = create_loss("combo_released", alpha=0.0)(logits, target)
    torch.testing.assert_close(dice_only, create_loss("dice", smooth=1.0)(logits, target))


def test_released_focal_takes_probabilities_for_logits_and_never_reaches_zero() -> None:
    # a perfect background voxel: p = 0 is taken for a logit, sigmoid(0) = 1/2, so the loss is
    # 0.75 (1/2)^2 ln 2; a perfect lesion voxel: s = sigmoid(1), 0.25 (1 - s)^2 (-ln s)
    background = _case((0.0, -CONFIDENT))
    assert create_loss("focal_released")(*background).item() == pytest.approx(
        0.75 * 0.25 * math.log(2), rel=1e-12
    )
    s = 1 / (1 + math.exp(-1))
    lesion = _case((1.0, CONFIDENT))
    assert create_loss("focal_released")(*lesion).item() == pytest.approx(
        0.25 * (1 - s) ** 2 * -math.log(s), rel=1e-9
    )
    assert create_loss("focal")(*background).item() == pytest.approx(0.0, abs=1e-12)
    assert abs(_lesion_grad("focal_released", *background).item()) < 1e-10  # p saturated


def test_released_logcosh_is_voxelwise_with_no_dice_in_it() -> None:
    # one lesion voxel at p = 1/2 among 99 perfect background voxels: log cosh(1/2) / 100, where
    # the published loss is log cosh of the Dice loss 1 - 1/1.5
    logits, target = _case((1.0, 0.0), *[(0.0, -CONFIDENT)] * 99)
    released = create_loss("logcosh_dice_released")(logits, target).item()
    assert released == pytest.approx(math.log(math.cosh(0.5)) / 100, rel=1e-9)
    published = create_loss("logcosh_dice", smooth=0.0)(logits, target).item()
    assert published == pytest.approx(math.log(math.cosh(1 / 3)), rel=1e-9)


def test_released_dice_pp_never_penalises_false_negatives() -> None:
    # a prediction that misses every lesion voxel costs no more than one that finds them all
    target = torch.zeros(1, 1, 4, 4, 4, dtype=torch.float64)
    target[..., 1:3, 1:3, 1:3] = 1
    finds_all = (2 * target - 1) * CONFIDENT
    misses_all = torch.full_like(target, -CONFIDENT)
    released = create_loss("dice_pp_released")
    assert released(misses_all, target).item() <= released(finds_all, target).item() + 1e-12
    assert released(misses_all, target).item() == pytest.approx(0.0, abs=1e-9)
    published = create_loss("dice_pp")
    assert published(misses_all, target).item() > 0.4  # the published loss does penalise them
    # and its gradient does not ask for missed lesion voxels (p = 0.05, no false positive)
    lesion = target.flatten() > 0
    unsure = torch.where(target > 0, -3.0, -CONFIDENT).to(target)
    assert _lesion_grad("dice_pp_released", unsure, target)[lesion].abs().max() < 1e-12
    assert (_lesion_grad("dice_pp", unsure, target)[lesion] < -1e-4).all()


UNIFIED = ["symmetric_unified_focal_released", "asymmetric_unified_focal_released"]


@pytest.mark.parametrize("name", UNIFIED)
def test_released_unified_focal_sees_only_the_first_two_depth_slices(name: str) -> None:
    logits, target = random_case(5, shape=(2, 1, 6, 6, 6))
    loss = create_loss(name)
    changed = logits.clone()
    changed[..., 2:] = -logits[..., 2:]  # every slice after the first two, made wrong
    assert torch.equal(loss(changed, target), loss(logits, target))
    grad = _lesion_grad(name, logits, target).reshape(logits.shape)
    assert (grad[..., 2:] == 0).all() and (grad[..., :2] != 0).any()


@pytest.mark.parametrize("name", UNIFIED)
def test_released_unified_focal_refuses_a_patch_of_one_slice(name: str) -> None:
    logits = torch.zeros(1, 1, 4, 4, 1)
    with pytest.raises(ValueError, match=r"first two slices .* shape \(4, 4, 1\)"):
        create_loss(name)(logits, torch.zeros_like(logits))


def test_released_asymmetric_focal_rewards_a_wrong_class() -> None:
    # the wrong-signed cross-entropy: on the lesion channel, a lesion voxel predicted at p = 0.1
    # costs less in the focal part than one at 0.9, and the loss goes below 0
    target = torch.ones(1, 1, 2, 2, 2, dtype=torch.float64)
    loss = create_loss("asymmetric_unified_focal_released", weight=0.0)  # the focal part alone
    low = loss(torch.full_like(target, math.log(0.1 / 0.9)), target).item()
    high = loss(torch.full_like(target, math.log(0.9 / 0.1)), target).item()
    assert low < high < 0
    # lesion channel: 0.4 (1 - p)^0.5 ln p on slice 0 plus 0.6 ln p on slice 1; the background
    # channel's label is 0: mean over the 2 channels
    assert low == pytest.approx((0.4 * math.sqrt(0.9) + 0.6) * math.log(0.1) / 2, rel=1e-6)
