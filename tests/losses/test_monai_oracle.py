"""Cross-checks against MONAI, an independent implementation, where conventions match."""

from __future__ import annotations

import pytest
import torch

from lossbench.losses import create_loss
from tests._helpers import random_case

monai_losses = pytest.importorskip("monai.losses")

SMOOTH = {"smooth_nr": 1e-5, "smooth_dr": 1e-5}


def _monai(name: str, batch: bool, reduction: str) -> torch.nn.Module:
    """MONAI's counterpart of a lossbench loss (with its default hyper-parameters)."""
    if name == "dice":
        return monai_losses.DiceLoss(sigmoid=True, batch=batch, reduction=reduction, **SMOOTH)
    if name == "tversky":
        return monai_losses.TverskyLoss(
            sigmoid=True, alpha=0.3, beta=0.7, batch=batch, reduction=reduction, **SMOOTH
        )
    if name == "focal":
        return monai_losses.FocalLoss(alpha=0.25, gamma=2.0, reduction=reduction)
    if name == "dice_ce":
        return monai_losses.DiceCELoss(sigmoid=True, batch=batch, **SMOOTH)
    if name == "focal_dice":
        return monai_losses.DiceFocalLoss(
            sigmoid=True, batch=batch, alpha=0.25, gamma=2.0, **SMOOTH
        )
    if name == "hausdorff_dt":
        return monai_losses.HausdorffDTLoss(
            alpha=2.0, sigmoid=True, include_background=True, batch=batch, reduction=reduction
        )
    if name == "log_hausdorff_dt":
        return monai_losses.LogHausdorffDTLoss(
            alpha=2.0, sigmoid=True, include_background=True, batch=batch, reduction=reduction
        )
    raise KeyError(name)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("batch", [True, False])
@pytest.mark.parametrize(
    "name",
    ["dice", "tversky", "focal", "dice_ce", "focal_dice", "hausdorff_dt", "log_hausdorff_dt"],
)
def test_matches_monai(name: str, batch: bool, seed: int) -> None:
    logits, target = random_case(seed, dtype=torch.float32)
    ours = create_loss(name, batch=batch)(logits, target)
    if name == "log_hausdorff_dt" and not batch:
        # MONAI takes the log of the mean over cases; lossbench's batch=False is the mean of the
        # per-case losses, which MONAI gives with reduction="none"
        theirs = _monai(name, batch, "none")(logits, target).mean()
    else:
        theirs = _monai(name, batch, "mean")(logits, target)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["dice", "tversky", "hausdorff_dt", "log_hausdorff_dt"])
def test_per_case_matches_monai(name: str) -> None:
    logits, target = random_case(3, dtype=torch.float32)
    ours = create_loss(name, reduction="none")(logits, target)
    theirs = _monai(name, False, "none")(logits, target).reshape(-1)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("batch", [True, False])
def test_gradients_match_monai(seed: int, batch: bool) -> None:
    logits, target = random_case(seed, dtype=torch.float64)
    for name in ("dice", "tversky", "focal", "dice_ce"):
        grads = []
        for loss in (create_loss(name, batch=batch), _monai(name, batch, "mean")):
            x = logits.clone().requires_grad_(True)
            loss(x, target).backward()
            grads.append(x.grad)
        # MONAI's focal gradient is itself ~1e-10 off in float64 (checked against 50-digit
        # arithmetic at the worst voxel), hence the absolute tolerance
        torch.testing.assert_close(grads[0], grads[1], rtol=1e-6, atol=1e-9)


# MONAI adds its smoothing to sums weighted 1/V^2, where 1e-5 is not small: without smoothing
# MONAI computes Sudre's formula, which lossbench keeps up to a smoothing on voxel-count scale
SUDRE = {"smooth_nr": 0.0, "smooth_dr": 0.0}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("batch", [True, False])
def test_generalized_dice_matches_monai_on_two_classes(seed: int, batch: bool) -> None:
    logits, target = random_case(seed, dtype=torch.float64)
    p = torch.sigmoid(logits)
    two_prob, two_target = torch.cat([1 - p, p], 1), torch.cat([1 - target, target], 1)
    theirs = monai_losses.GeneralizedDiceLoss(include_background=True, batch=batch, **SUDRE)(
        two_prob, two_target
    )
    ours = create_loss("generalized_dice", batch=batch)(logits, target)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_generalized_dice_absent_lesion_matches_monai() -> None:
    logits, _ = random_case(4, dtype=torch.float64)
    target = torch.zeros_like(logits)
    p = torch.sigmoid(logits)
    for batch in (True, False):
        theirs = monai_losses.GeneralizedDiceLoss(include_background=True, batch=batch, **SUDRE)(
            torch.cat([1 - p, p], 1), torch.cat([1 - target, target], 1)
        )
        ours = create_loss("generalized_dice", batch=batch)(logits, target)
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
