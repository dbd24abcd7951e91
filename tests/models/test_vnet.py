"""The shared V-Net: any input size, its parameter count, the constraints it states."""

from __future__ import annotations

import pytest
import torch

from lossbench.models import MIN_LEVELS, VNet, count_parameters, size_multiple


@pytest.mark.parametrize("size", [(7, 9, 11), (16, 16, 16), (5, 33, 8)])
def test_odd_input_sizes(size: tuple[int, int, int]) -> None:
    net = VNet(width=2, levels=4)
    assert net(torch.zeros(1, 3, *size)).shape == (1, 1, *size)


def test_parameter_count_at_width_16() -> None:
    assert count_parameters(VNet(width=16, levels=5)) == 10_044_193


def test_the_constraints_it_states_are_the_ones_it_enforces() -> None:
    with pytest.raises(ValueError, match=f"levels >= {MIN_LEVELS}"):
        VNet(levels=MIN_LEVELS - 1)
    VNet(width=1, levels=MIN_LEVELS)
    net = VNet(width=2, levels=3)
    edge = size_multiple(3)  # a patch of this multiple goes through without padding
    x = torch.zeros(1, 3, edge * 3, edge * 2, edge)
    assert net(x).shape == (1, 1, edge * 3, edge * 2, edge)
