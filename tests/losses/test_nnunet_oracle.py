"""Cross-checks against nnU-Net v2's own losses (the ``nnunet`` extra): ``TopKLoss`` and
``DC_and_topk_loss`` (nnunetv2/training/loss/robust_ce_loss.py and compound_losses.py)."""

from __future__ import annotations

import pytest
import torch

from lossbench.losses import create_loss
from tests._helpers import random_case

robust = pytest.importorskip(
    "nnunetv2.training.loss.robust_ce_loss", reason="nnU-Net v2 is not installed (the nnunet extra)"
)
compound = pytest.importorskip("nnunetv2.training.loss.compound_losses")
pytestmark = pytest.mark.filterwarnings("ignore:size_average and reduce args:UserWarning")


def _two_channels(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-channel logits (nnU-Net's softmax convention) and a (B, 1, ...) label map."""
    logits, target = random_case(seed, dtype=torch.float32)
    return torch.cat([torch.zeros_like(logits), logits], dim=1), target


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [10.0, 3.0])
def test_topk_matches_nnunet(seed: int, k: float) -> None:
    logits, target = _two_channels(seed)
    ours = create_loss("topk", k=k)(logits, target)
    theirs = robust.TopKLoss(k=k)(logits, target)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dice_topk_matches_nnunet_up_to_its_constant(seed: int) -> None:
    # nnU-Net's Dice term is -Dice, this one 1 - Dice: the same loss plus weight_dice = 1
    logits, target = _two_channels(seed)
    theirs = compound.DC_and_topk_loss(
        {"batch_dice": True, "smooth": 1e-5, "do_bg": False, "ddp": False}, {"k": 10}
    )(logits, target)
    ours = create_loss("dice_topk", batch=True)(logits, target)
    torch.testing.assert_close(ours, theirs + 1, rtol=1e-5, atol=1e-6)
