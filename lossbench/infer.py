"""Sliding-window inference with Gaussian blending."""

from __future__ import annotations

import itertools

import numpy as np
import torch

__all__ = ["gaussian_window", "sliding_window"]


def gaussian_window(size: int, sigma_scale: float = 0.125) -> np.ndarray:
    """Cubic Gaussian importance map (peak 1 at the centre, sigma = ``sigma_scale * size``).

    Example:
        >>> w = gaussian_window(5)
        >>> w.shape, float(w[2, 2, 2])
        ((5, 5, 5), 1.0)
    """
    axis = np.arange(size) - (size - 1) / 2
    g = np.exp(-0.5 * (axis / (sigma_scale * size)) ** 2)
    window = g[:, None, None] * g[None, :, None] * g[None, None, :]
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
        model: maps (B, C, w, w, w) to (B, 1, w, w, w) logits.
        image: (C, x, y, z) input.
        window: cubic window edge (voxels), usually the training patch size.
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
    padded = np.pad(image, [(0, 0)] + [(0, max(window - s, 0)) for s in spatial])
    shape = padded.shape[1:]
    step = max(int(window * (1 - overlap)), 1)
    corners = list(itertools.product(*(_starts(s, window, step) for s in shape)))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            volume = torch.from_numpy(padded).to(device)
            weight = torch.from_numpy(gaussian_window(window)).to(device)
            total = torch.zeros(shape, dtype=torch.float32, device=device)
            norm = torch.zeros(shape, dtype=torch.float32, device=device)
            for i in range(0, len(corners), batch_size):
                boxes = [tuple(slice(c, c + window) for c in corner)
                         for corner in corners[i : i + batch_size]]  # fmt: skip
                batch = torch.stack([volume[(slice(None),) + box] for box in boxes])  # noqa: RUF005
                with torch.autocast(torch.device(device).type, dtype=dtype,
                                    enabled=dtype is not None):  # fmt: skip
                    logits = model(batch)
                probs = torch.sigmoid(logits.float()[:, 0])
                for box, prob in zip(boxes, probs, strict=True):
                    total[box] += prob * weight
                    norm[box] += weight
            out = (total / norm)[tuple(slice(0, s) for s in spatial)]
            return out.cpu().numpy()
    finally:
        model.train(was_training)
