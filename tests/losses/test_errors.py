"""Bad input gets a ValueError/TypeError naming the argument and the value."""

from __future__ import annotations

import pytest
import torch

from lossbench.losses import create_loss, dice_loss, focal_loss, lesion_input, list_losses

X = torch.zeros(2, 1, 3, 3, 3)
Y = torch.zeros(2, 1, 3, 3, 3)


@pytest.mark.parametrize("name", list_losses())
def test_mismatched_shapes(name: str) -> None:
    with pytest.raises(ValueError, match=r"`target` must have shape .*got \(2, 1, 3, 3, 4\)"):
        create_loss(name)(X, torch.zeros(2, 1, 3, 3, 4))


@pytest.mark.parametrize(
    ("logits", "match"),
    [
        (torch.zeros(2, 3, 3, 3, 3), r"C = 1 .* got \(2, 3, 3, 3, 3\)"),
        (torch.zeros(2), r"\(B, C, \*spatial\)"),
    ],
)
def test_bad_logits_shape(logits: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create_loss("dice")(logits, torch.zeros(2, 3, 3, 3))


def test_integer_logits_are_refused() -> None:
    with pytest.raises(TypeError, match=r"`logits` must be a floating-point .*torch.int64"):
        create_loss("dice")(torch.zeros(2, 1, 3, 3, 3, dtype=torch.long), Y)


def test_non_tensor_input() -> None:
    with pytest.raises(TypeError, match="must be torch tensors, got Tensor and ndarray"):
        create_loss("dice")(X, Y.numpy())


def test_target_on_another_device() -> None:
    with pytest.raises(ValueError, match="`target` is on meta but `logits` on cpu"):
        create_loss("dice")(X, Y.to("meta"))


@pytest.mark.parametrize("bad", [2.0, -0.5, float("nan")])
def test_target_out_of_range(bad: float) -> None:
    target = Y.clone()
    target[0, 0, 0, 0, 0] = bad
    with pytest.raises(ValueError, match=r"`target` values must lie in \[0, 1\]"):
        create_loss("ce")(X, target)


@pytest.mark.parametrize("name", list_losses())
def test_every_loss_checks_the_values_of_a_cpu_target(name: str) -> None:
    target = Y.clone()
    target[1, 0, 2, 2, 2] = 1.5
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\], got min 0 and max 1.5"):
        create_loss(name)(X, target)


def test_the_values_of_a_target_off_the_cpu_are_not_read() -> None:
    # reading them would make the host wait for the GPU at every call; a meta tensor has none
    z, y = lesion_input(X.to("meta"), torch.full((2, 1, 3, 3, 3), 2.0, device="meta"))
    assert z.device.type == y.device.type == "meta" and y.shape == (2, 3, 3, 3)


def test_integer_and_bool_targets_are_accepted() -> None:
    ref = create_loss("dice")(X, Y)
    assert create_loss("dice")(X, Y.long()).item() == ref.item()
    assert create_loss("dice")(X, Y.bool()).item() == ref.item()
    labels = Y.long()
    labels[0, 0, 0, 0, 0] = 2  # a label map with a second class is not a binary target
    with pytest.raises(ValueError, match="min 0 and max 2"):
        create_loss("dice")(X, labels)


def test_unknown_loss_name_suggests() -> None:
    with pytest.raises(ValueError, match=r"unknown loss 'tverski'; did you mean 'tversky'\?"):
        create_loss("tverski")


def test_unknown_parameter_suggests() -> None:
    with pytest.raises(TypeError, match=r"unknown parameter 'fp_wieght'; did you mean 'fp_weight'"):
        create_loss("tversky", fp_wieght=0.5)
    with pytest.raises(TypeError, match=r"unknown parameter 'gama'; did you mean 'gamma'"):
        focal_loss(X, Y, gama=2)


@pytest.mark.parametrize(
    ("name", "params", "error", "match"),
    [
        ("tversky", {"fp_weight": -0.1}, ValueError, r"`fp_weight` must be >= 0, got -0.1"),
        ("hytver", {"alpha": 1.5}, ValueError, r"`alpha` must be in \[0, 1\], got 1.5"),
        ("focal", {"gamma": -1}, ValueError, r"`gamma` must be >= 0, got -1"),
        ("weighted_ce", {"pos_weight": "0.9"}, TypeError, r"`pos_weight` must be a real number"),
        ("dice", {"smooth": True}, TypeError, r"`smooth` must be a real number, got True"),
        ("dice", {"batch": 1}, TypeError, r"`batch` must be True or False, got 1"),
        (
            "dice",
            {"reduction": "sum"},
            ValueError,
            r"`reduction` must be one of \['mean', 'none'\]",
        ),
        ("dice", {"reduction": "nnone"}, ValueError, r"did you mean 'none'"),
        ("combo", {"beta": float("nan")}, ValueError, r"`beta` must be in \[0, 1\], got nan"),
    ],
)
def test_bad_hyper_parameters(name: str, params: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        create_loss(name, **params)


def test_functional_validates_like_the_module() -> None:
    with pytest.raises(ValueError, match="`smooth` must be >= 0, got -1"):
        dice_loss(X, Y, smooth=-1)
