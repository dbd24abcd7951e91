"""The loss library: every loss is a plugin in one registry.

Each built-in loss is declared once, in its family module, by :func:`registry.builtin_loss`,
which makes its functional (``dice_loss``) and its ``nn.Module`` class (``DiceLoss``); both are
exported here.

>>> import torch
>>> from lossbench.losses import create_loss, list_losses
>>> loss = create_loss("hytver")
>>> logits, target = torch.zeros(2, 1, 8, 8, 8), torch.zeros(2, 1, 8, 8, 8)
>>> loss(logits, target).shape
torch.Size([])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lossbench.losses._core import Loss, lesion_input, loss_function
from lossbench.losses.boundary import *  # noqa: F403
from lossbench.losses.compound import *  # noqa: F403
from lossbench.losses.detection import *  # noqa: F403
from lossbench.losses.distribution import *  # noqa: F403
from lossbench.losses.region import *  # noqa: F403
from lossbench.losses.registry import (
    ENTRY_POINT_GROUP,
    create_loss,
    declared_names,
    get_loss_class,
    list_losses,
    loss_defaults,
    register_loss,
)
from lossbench.losses.released import *  # noqa: F403

if TYPE_CHECKING:

    def __getattr__(name: str) -> type[Loss]: ...  # the classes made by builtin_loss


__all__ = [
    "ENTRY_POINT_GROUP",
    "Loss",
    "create_loss",
    "get_loss_class",
    "lesion_input",
    "list_losses",
    "loss_defaults",
    "loss_function",
    "register_loss",
    *declared_names(),
]
