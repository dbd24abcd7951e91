"""Sliding-window inference with Gaussian blending."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["gaussian_window", "sliding_window"]


def gaussian_window(size: int | Sequence[int], sigma_scale: float = 0.125) -> np.ndarray:
    """Gaussian importance map of a window (peak 1 at the centre, sigma = ``sigma_scale`` times
    the window's edge along each axis, floored at 1e-3).

    Args:
        size: the window's edge (voxels), one int for a cube or three.
        sigma_scale: sigma as a fraction of the edge.

    Example:
        >>> w = gaussian_window(5)
        >>> w.shape, float(w[2, 2, 2])
        ((5, 5, 5), 1.0)
        >>> gaussian_window((3, 4, 5)).shape
        (3, 4, 5)
    """
    edges = (size,) * 3 if isinstance(size, int) else tuple(size)
    window = np.ones(edges)
    for axis, edge in enumerate(edges):
        centred = np.arange(edge) - (edge - 1) / 2
        shape = [1, 1, 1]
        shape[axis] = edge
        window = window * np.exp(-0.5 * (centred / (sigma_scale * edge)) ** 2).reshape(shape)
    return np.maximum(window / window.max(), 1e-3).astype(np.float32)


def _starts(length: int, window: int, step: int) -> list[int]:
    if length <= window:
        return [0]
    starts = list(range(0, length - window, step))
    return [*starts, length - window]


def sliding_window(
    model: torch.nn.Module,
    image: np.ndarray,
    window: int,
    overlap: float = 0.5,
    device: torch.device | str = "cpu",
    batch_size: int = 4,
    dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Lesion probability of a whole volume, predicted window by window.

    Windows run in batches under ``torch.inference_mode``; the blended probability map is
    accumulated in torch on ``device`` and copied to the host once, at the end.

    Args:
        model: maps (B, C, *window) to (B, 1, *window) logits.
        image: (C, x, y, z) input.
        window: window edge (voxels), usually the training patch size; along an axis shorter
            than ``window`` the window is that axis's length (one window, no padding).
        overlap: fraction of a window shared with its neighbour, in [0, 1).
        device: where the model runs.
        batch_size: windows per forward pass.
        dtype: autocast dtype of the forward pass (``torch.bfloat16`` or ``torch.float16``), or
            None for float32; the blending is float32 either way.

    Returns:
        float32 (x, y, z) probabilities: sigmoid of the logits, blended with a Gaussian weight.

    Example:
        >>> class Half(torch.nn.Module):
        ...     def forward(self, x):
        ...         return torch.zeros_like(x[:, :1])
        >>> p = sliding_window(Half(), np.zeros((3, 10, 7, 9), np.float32), window=4)
        >>> p.shape, float(p.min()), float(p.max())
        ((10, 7, 9), 0.5, 0.5)
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"`overlap` must be in [0, 1), got {overlap}")
    spatial = image.shape[1:]
    edges = tuple(min(window, s) for s in spatial)  # an axis shorter than the window: one window
    steps = [max(int(e * (1 - overlap)), 1) for e in edges]
    axes = [_starts(s, e, t) for s, e, t in zip(spatial, edges, steps, strict=True)]
    corners = list(itertools.product(*axes))
    kind = torch.device(device).type
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return _blend(model, image, edges, corners, device, batch_size, dtype, kind)
    finally:
        model.train(was_training)


def _blend(
    model: torch.nn.Module,
    image: np.ndarray,
    edges: tuple[int, ...],
    corners: list[tuple[int, ...]],
    device: torch.device | str,
    batch_size: int,
    dtype: torch.dtype | None,
    kind: str,
) -> np.ndarray:
    """The Gaussian-weighted mean probability of the windows of edges ``edges`` at ``corners``,
    ``batch_size`` windows per forward pass under autocast to ``dtype`` on ``kind`` devices."""
    spatial = image.shape[1:]
    volume = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    weight = torch.from_numpy(gaussian_window(edges)).to(device)
    total = torch.zeros(spatial, dtype=torch.float32, device=device)
    norm = torch.zeros(spatial, dtype=torch.float32, device=device)
    for i in range(0, len(corners), batch_size):
        boxes = [
            tuple(slice(c, c + e) for c, e in zip(corner, edges, strict=True))
            for corner in corners[i : i + batch_size]
        ]
        batch = torch.stack([volume[(slice(None),) + box] for box in boxes])  # noqa: RUF005
        with torch.autocast(kind, dtype=dtype, enabled=dtype is not None):
            logits = model(batch)
        probs = torch.sigmoid(logits.float()[:, 0])
        for box, prob in zip(boxes, probs, strict=True):
            total[box] += prob * weight
            norm[box] += weight
    return (total / norm).cpu().numpy()
