"""Sliding-window inference."""

from __future__ import annotations

import numpy as np
import torch

from lossbench.infer import sliding_window


class _FirstChannel(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1]


def test_sliding_window_blends_to_the_full_volume() -> None:
    image = np.random.default_rng(0).standard_normal((3, 13, 10, 17)).astype(np.float32)
    prob = sliding_window(_FirstChannel(), image, window=8, overlap=0.5)
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-image[0])), rtol=1e-5)


def test_a_window_larger_than_the_volume() -> None:
    image = np.zeros((3, 5, 6, 7), np.float32)
    prob = sliding_window(_FirstChannel(), image, window=8, overlap=0.5)
    assert prob.shape == (5, 6, 7) and np.allclose(prob, 0.5)
