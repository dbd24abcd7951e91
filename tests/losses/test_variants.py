"""Loss variants by name: parsing, the checks against the loss's declared parameters, canonical
ids, and a variant's loss equal to the loss built with those parameters."""

from __future__ import annotations

import pytest
import torch

from lossbench._text import split_losses
from lossbench.config import resolve_losses
from lossbench.losses import create_loss
from lossbench.losses.variants import create_variant, parse_variant, shortest
from tests._helpers import random_case


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("dice", "dice"),
        ("hytver(beta=0.8)", "hytver(beta=0.8)"),
        ("hytver(gamma=0.3, alpha=0.5)", "hytver(alpha=0.5,gamma=0.3)"),  # the loss's order
        (" hytver ( beta = 0.80 ) ", "hytver(beta=0.8)"),
        ("hytver(beta=0.7)", "hytver"),  # the default value: the loss itself
        ("hytver()", "hytver"),
        ("focal(gamma=2)", "focal"),
        ("focal(gamma=3)", "focal(gamma=3)"),
        ("dice(smooth=1e-5)", "dice"),
        ("dice(smooth=0.00001)", "dice"),
        ("dice(smooth=1e-3)", "dice(smooth=0.001)"),
        ("dice(batch=false)", "dice(batch=false)"),
        ("topk(k=12.5)", "topk(k=12.5)"),
    ],
)
def test_canonical_ids(text: str, canonical: str) -> None:
    assert parse_variant(text).id == canonical
    assert parse_variant(canonical).id == canonical  # a canonical id reads back to itself


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hytvr(beta=0.8)", "unknown loss 'hytvr'; did you mean 'hytver'"),
        ("hytver(bta=0.8)", "unknown parameter 'bta'; did you mean 'beta'"),
        ("hytver(beta=1.5)", r"`beta` must be in \[0, 1\], got 1.5"),
        ("hytver(beta=high)", "`beta` must be a real number, got 'high'"),
        ("hytver(beta=0.8, beta=0.9)", "`beta` is given twice"),
        ("hytver(reduction=none)", "`reduction` is set by the trainer"),
        ("hytver(beta)", "'beta' is not `parameter=value`"),
        ("hytver(beta=0.8", "is not `name` or `name"),
        ("Hytver", "is not `name` or `name"),
    ],
)
def test_bad_variants_are_refused_with_the_parameter_list(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_variant(text)
    if "unknown loss" not in message and "is not `name`" not in message:
        assert "(parameters of hytver: alpha=0.7 (in [0, 1]), beta=0.7" in str(info.value)


def test_a_variant_is_the_loss_with_its_parameters() -> None:
    logits, target = random_case(2)
    variant = create_variant("hytver(alpha=0.5,gamma=0.3)")
    expected = create_loss("hytver", alpha=0.5, gamma=0.3)
    torch.testing.assert_close(variant(logits, target), expected(logits, target), rtol=0, atol=0)
    assert repr(variant) == repr(expected)


def test_numbers_print_in_their_shortest_form() -> None:
    assert [shortest(v) for v in (0.1 + 0.2, 1e-12, 250.0, -0.5)] == [
        "0.30000000000000004",
        "1e-12",
        "250",
        "-0.5",
    ]
    for value in (0.1 + 0.2, 1e-12, 0.7, 1 / 3):
        assert float(shortest(value)) == value  # reads back to the same float


def test_losses_split_outside_parentheses() -> None:
    assert split_losses("dice,hytver(beta=0.8),hytver(alpha=0.5,gamma=0.3)") == [
        "dice",
        "hytver(beta=0.8)",
        "hytver(alpha=0.5,gamma=0.3)",
    ]
    assert split_losses("dice ce,, focal") == ["dice", "ce", "focal"]
    with pytest.raises(ValueError, match="unbalanced parentheses"):
        split_losses("hytver(beta=0.8")
    with pytest.raises(ValueError, match="unbalanced parentheses"):
        split_losses("hytver)beta=0.8(")


def test_resolving_keeps_one_of_each_canonical_id_in_order() -> None:
    names = ["hytver(beta=0.80)", "dice", "hytver(beta=0.8)", "hytver(beta=0.7)", "hytver"]
    assert resolve_losses(names) == ["hytver(beta=0.8)", "dice", "hytver"]
