"""Target maps computed ahead of the loss give the loss computed with its own maps, bit for bit."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from lossbench.losses import Loss, create_loss, list_losses, loss_function
from lossbench.losses._core import Reduction, unit_mean
from lossbench.losses.boundary import (
    BoundaryLoss,
    HausdorffDTLoss,
    boundary_loss,
    distance_to_boundary,
    hausdorff_dt_loss,
    signed_distance,
)
from tests._helpers import random_case

MAPPED = {
    "hausdorff_dt": "distance_to_boundary",
    "log_hausdorff_dt": "distance_to_boundary",
    "boundary": "signed_distance",
    "blob_dice": "components",
}
DTYPES = {"components": torch.int64}  # the others are float64 distances
RUNS: list[tuple[bool, Reduction]] = [
    (True, "mean"),
    (False, "mean"),
    (True, "none"),
    (False, "none"),
]


def _loss(name: str, **params: object) -> Loss:
    loss = create_loss(name, **params)
    assert isinstance(loss, Loss)
    return loss


def _value_and_grad(loss: torch.nn.Module, logits: Tensor, target: Tensor, **kw: object) -> tuple:
    x = logits.clone().requires_grad_(True)
    value = loss(x, target, **kw)
    value.sum().backward()
    return value, x.grad


@pytest.mark.parametrize("name", sorted(MAPPED))
@pytest.mark.parametrize(("batch", "reduction"), RUNS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("channel", [True, False], ids=["B1DHW", "BDHW"])
def test_precomputed_maps_give_the_same_loss_bit_for_bit(
    name: str, batch: bool, reduction: Reduction, dtype: torch.dtype, channel: bool
) -> None:
    logits, target = random_case(3, shape=(3, 1, 9, 10, 11), lesion_fraction=0.08, dtype=dtype)
    target[2] = 0  # a case without boundary
    if not channel:
        target = target[:, 0]
    loss = _loss(name, batch=batch, reduction=reduction)
    maps = loss.target_maps(target)
    assert maps is not None and list(maps) == [MAPPED[name]]
    assert maps[MAPPED[name]].shape == target.shape
    assert maps[MAPPED[name]].dtype == DTYPES.get(MAPPED[name], torch.float64)
    own_value, own_grad = _value_and_grad(loss, logits, target)
    value, grad = _value_and_grad(loss, logits, target, target_maps=maps)
    assert torch.equal(value, own_value) and torch.equal(grad, own_grad)
    assert value.shape == (() if reduction == "mean" else (3,))


@pytest.mark.parametrize("target_dtype", [torch.bool, torch.uint8, torch.float16, torch.float64])
def test_maps_of_any_target_dtype(target_dtype: torch.dtype) -> None:
    logits, target = random_case(5, shape=(2, 1, 8, 8, 8), dtype=torch.float32)
    target = target.to(target_dtype)
    for loss in (HausdorffDTLoss(), BoundaryLoss(progress=1.0)):
        maps = loss.target_maps(target)
        assert torch.equal(loss(logits, target, target_maps=maps), loss(logits, target))


def test_the_maps_are_those_of_the_thresholded_target() -> None:
    _, target = random_case(1, shape=(2, 1, 7, 8, 9))
    soft = target * 0.9 + 0.05  # soft labels on either side of 0.5
    masks = target > 0.5
    d_y = HausdorffDTLoss().target_maps(soft)
    phi = BoundaryLoss().target_maps(soft)
    assert d_y is not None and phi is not None
    assert torch.equal(d_y["distance_to_boundary"], distance_to_boundary(masks))
    assert torch.equal(phi["signed_distance"], signed_distance(masks))


def test_the_functionals_take_maps_too() -> None:
    logits, target = random_case(2, shape=(2, 1, 8, 9, 10))
    masks = target > 0.5
    value = hausdorff_dt_loss(logits, target, {"distance_to_boundary": distance_to_boundary(masks)})
    assert torch.equal(value, hausdorff_dt_loss(logits, target))
    value = boundary_loss(logits, target, target_maps={"signed_distance": signed_distance(masks)})
    assert torch.equal(value, boundary_loss(logits, target))


def test_the_given_maps_are_used() -> None:
    logits, target = random_case(4, shape=(2, 1, 8, 8, 8))
    zero = {"signed_distance": torch.zeros_like(target)}
    value = BoundaryLoss(progress=1.0)(logits, target, target_maps=zero)
    assert value.item() == pytest.approx(
        0.1 * create_loss("generalized_dice")(logits, target).item()
    )
    assert value.item() != BoundaryLoss(progress=1.0)(logits, target).item()


@pytest.mark.parametrize("name", [n for n in list_losses() if n not in MAPPED])
def test_losses_without_maps(name: str) -> None:
    loss = _loss(name)
    logits, target = random_case(0, shape=(2, 1, 4, 4, 4))
    assert isinstance(loss, Loss) and loss.target_maps(target) is None
    assert torch.equal(loss(logits, target, target_maps=None), loss(logits, target))
    with pytest.raises(ValueError, match=r"takes no target maps, got \['signed_distance'\]"):
        loss(logits, target, target_maps={"signed_distance": torch.zeros_like(target)})


def _mean_prob(z: Tensor, y: Tensor, pooled: bool) -> Tensor:
    return unit_mean(torch.sigmoid(z), pooled)


class _PluginLoss(Loss):
    """A loss of a plugin that knows nothing of target maps."""

    function = loss_function(_mean_prob)


def test_a_plugin_loss_without_maps_keeps_working() -> None:
    loss = _PluginLoss(reduction="none")
    assert loss.target_maps(torch.ones(2, 1, 3, 3, 3)) is None
    value = loss(torch.zeros(2, 1, 3, 3, 3), torch.ones(2, 1, 3, 3, 3))
    assert torch.equal(value, torch.full((2,), 0.5))


def test_a_term_declares_its_maps_exactly_when_it_takes_them() -> None:
    with pytest.raises(TypeError, match="takes the keyword `target_maps` exactly when"):
        loss_function(_mean_prob, {"signed_distance": signed_distance})

    def needs_maps(z: Tensor, y: Tensor, pooled: bool, *, target_maps: dict) -> Tensor:
        return unit_mean(target_maps["m"], pooled)

    with pytest.raises(TypeError, match=r"got maps \[\]"):
        loss_function(needs_maps)
    function = loss_function(needs_maps, {"m": lambda masks: masks.double()})
    assert "target_maps" in str(function.__signature__)
    assert list(type("_L", (Loss,), {"function": function})().params) == ["batch", "reduction"]


X, Y = random_case(6, shape=(2, 1, 5, 5, 5))


@pytest.mark.parametrize(
    ("maps", "error", "match"),
    [
        ({}, ValueError, r"must hold the maps \['signed_distance'\].*, got \[\]"),
        (
            {"signed_distance": torch.zeros(2, 1, 5, 5, 5), "extra": torch.zeros(2, 1, 5, 5, 5)},
            ValueError,
            r"got \['extra', 'signed_distance'\]",
        ),
        ({"signed_distance": [0.0]}, TypeError, r"'signed_distance' must be a tensor, got \[0.0\]"),
        (
            {"signed_distance": torch.zeros(2, 5, 5, 6)},
            ValueError,
            r"must have the target's shape \(2, 1, 5, 5, 5\), got \(2, 5, 5, 6\)",
        ),
        (
            {"signed_distance": torch.zeros(2, 1, 5, 5, 5, device="meta")},
            ValueError,
            r"'signed_distance' is on meta but `logits` on cpu",
        ),
    ],
)
def test_bad_maps(maps: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        BoundaryLoss()(X, Y, target_maps=maps)


def test_maps_without_the_channel_axis_are_accepted() -> None:
    phi = signed_distance(Y[:, 0] > 0.5)
    assert torch.equal(
        BoundaryLoss()(X, Y, target_maps={"signed_distance": phi}), BoundaryLoss()(X, Y)
    )


@pytest.mark.parametrize(
    ("target", "error", "match"),
    [
        (Y * 2, ValueError, r"`target` values must lie in \[0, 1\], got min 0 and max 2"),
        (Y.numpy(), TypeError, r"HausdorffDTLoss: `target` must be a tensor .* got ndarray"),
        (torch.zeros(3), TypeError, r"\(B, \*spatial\), got \(3,\)"),
    ],
)
def test_bad_targets_are_refused_by_target_maps(target: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        HausdorffDTLoss().target_maps(target)  # type: ignore[arg-type]
