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


class _Local(torch.nn.Module):
    """A 3x3x3 mean filter of the first channel: its output depends on each window's context."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = torch.full((1, 1, 3, 3, 3), 1 / 27)
        return torch.nn.functional.conv3d(x[:, :1], kernel, padding=1)


def test_a_window_covering_the_volume_is_one_pass_of_the_whole_volume() -> None:
    image = np.random.default_rng(1).standard_normal((3, 12, 14, 10)).astype(np.float32)
    whole = torch.sigmoid(_Local()(torch.from_numpy(image)[None]))[0, 0].numpy()
    prob = sliding_window(_Local(), image, window=64, overlap=0.5)
    np.testing.assert_allclose(prob, whole, rtol=1e-6)
    tiled = sliding_window(_Local(), image, window=6, overlap=0.5)
    assert not np.allclose(tiled, whole, rtol=1e-6)  # small windows lose context at their edges


def test_windows_shorter_than_one_axis_only() -> None:
    calls: list[tuple[int, ...]] = []

    class Record(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(tuple(x.shape[2:]))
            return x[:, :1]

    image = np.random.default_rng(2).standard_normal((3, 20, 5, 9)).astype(np.float32)
    prob = sliding_window(Record(), image, window=8, overlap=0.5, batch_size=1)
    assert set(calls) == {(8, 5, 8)} and len(calls) == 4 * 1 * 2
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-image[0])), rtol=1e-5)
