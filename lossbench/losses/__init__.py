"""The loss library: every loss is a plugin in one registry.

>>> import torch
>>> from lossbench.losses import create_loss, list_losses
>>> loss = create_loss("hytver")
>>> logits, target = torch.zeros(2, 1, 8, 8, 8), torch.zeros(2, 1, 8, 8, 8)
>>> loss(logits, target).shape
torch.Size([])
"""

from __future__ import annotations

from lossbench.losses._core import Loss, lesion_input, loss_function
from lossbench.losses.boundary import (
    BoundaryLoss,
    HausdorffDTLoss,
    boundary_loss,
    hausdorff_dt_loss,
)
from lossbench.losses.compound import (
    AsymmetricUnifiedFocalLoss,
    ComboLoss,
    DiceCELoss,
    FocalDiceLoss,
    HyTverLoss,
    SymmetricUnifiedFocalLoss,
    asymmetric_unified_focal_loss,
    combo_loss,
    dice_ce_loss,
    focal_dice_loss,
    hytver_loss,
    symmetric_unified_focal_loss,
)
from lossbench.losses.distribution import (
    CELoss,
    FocalLoss,
    WeightedCELoss,
    ce_loss,
    focal_loss,
    weighted_ce_loss,
)
from lossbench.losses.region import (
    DiceLoss,
    DicePPLoss,
    FocalTverskyLoss,
    GeneralizedDiceLoss,
    LogCoshDiceLoss,
    TverskyLoss,
    dice_loss,
    dice_pp_loss,
    focal_tversky_loss,
    generalized_dice_loss,
    logcosh_dice_loss,
    tversky_loss,
)
from lossbench.losses.registry import (
    ENTRY_POINT_GROUP,
    create_loss,
    get_loss_class,
    list_losses,
    loss_defaults,
    register_loss,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AsymmetricUnifiedFocalLoss",
    "BoundaryLoss",
    "CELoss",
    "ComboLoss",
    "DiceCELoss",
    "DiceLoss",
    "DicePPLoss",
    "FocalDiceLoss",
    "FocalLoss",
    "FocalTverskyLoss",
    "GeneralizedDiceLoss",
    "HausdorffDTLoss",
    "HyTverLoss",
    "LogCoshDiceLoss",
    "Loss",
    "SymmetricUnifiedFocalLoss",
    "TverskyLoss",
    "WeightedCELoss",
    "asymmetric_unified_focal_loss",
    "boundary_loss",
    "ce_loss",
    "combo_loss",
    "create_loss",
    "dice_ce_loss",
    "dice_loss",
    "dice_pp_loss",
    "focal_dice_loss",
    "focal_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "get_loss_class",
    "hausdorff_dt_loss",
    "hytver_loss",
    "lesion_input",
    "list_losses",
    "logcosh_dice_loss",
    "loss_defaults",
    "loss_function",
    "register_loss",
    "symmetric_unified_focal_loss",
    "tversky_loss",
    "weighted_ce_loss",
]
