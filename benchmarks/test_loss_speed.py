"""Forward + backward time of every registered loss on (4, 1, 80, 80, 80) float32 logits.

MONAI's counterparts run in the same session and share a benchmark group with ours, so
``--benchmark-group-by=group`` prints each pair side by side; ``benchmarks/ratios.py`` turns the
JSON report into a table of medians and ratios::

    pytest benchmarks/test_loss_speed.py --benchmark-json=bench.json
    python benchmarks/ratios.py bench.json
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from lossbench.losses import create_loss, list_losses
from lossbench.losses.boundary import distance_to_boundary, signed_distance


def _monai_counterparts() -> dict[str, Callable[[], torch.nn.Module]]:
    losses = pytest.importorskip("monai.losses")
    smooth = {"smooth_nr": 1e-5, "smooth_dr": 1e-5, "batch": True, "sigmoid": True}
    return {
        "dice": lambda: losses.DiceLoss(**smooth),
        "tversky": lambda: losses.TverskyLoss(alpha=0.3, beta=0.7, **smooth),
        "focal": lambda: losses.FocalLoss(alpha=0.25, gamma=2.0),
        "dice_ce": lambda: losses.DiceCELoss(**smooth),
        "focal_dice": lambda: losses.DiceFocalLoss(alpha=0.25, gamma=2.0, **smooth),
        "hausdorff_dt": lambda: losses.HausdorffDTLoss(alpha=2.0, sigmoid=True, batch=True),
        "log_hausdorff_dt": lambda: losses.LogHausdorffDTLoss(alpha=2.0, sigmoid=True, batch=True),
    }


Batch = tuple[torch.Tensor, torch.Tensor]


def _forward_backward(
    loss: torch.nn.Module, logits: torch.Tensor, target: torch.Tensor
) -> Callable[[], None]:
    x = logits.detach().requires_grad_(True)

    def step() -> None:
        x.grad = None
        loss(x, target).backward()

    return step


@pytest.mark.parametrize("name", list_losses())
def test_lossbench(benchmark: Any, batch: Batch, name: str) -> None:
    benchmark.group = name
    benchmark(_forward_backward(create_loss(name), *batch))


@pytest.mark.parametrize(
    "name",
    ["dice", "tversky", "focal", "dice_ce", "focal_dice", "hausdorff_dt", "log_hausdorff_dt"],
)
def test_monai(benchmark: Any, batch: Batch, name: str) -> None:
    benchmark.group = name
    benchmark(_forward_backward(_monai_counterparts()[name](), *batch))


@pytest.mark.parametrize(
    "transform", [distance_to_boundary, signed_distance], ids=["to_boundary", "signed"]
)
def test_distance_maps(
    benchmark: Any, batch: Batch, transform: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    """The scipy distance transforms that hausdorff_dt (two maps) and boundary (one) pay."""
    benchmark.group = f"distance map: {transform.__name__}"
    masks = batch[1][:, 0] > 0.5
    benchmark(transform, masks)
