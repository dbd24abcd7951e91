"""Seeded inputs shared by the tests."""

from __future__ import annotations

import torch


def random_case(
    seed: int = 0,
    shape: tuple[int, ...] = (2, 1, 12, 12, 12),
    lesion_fraction: float = 0.05,
    scale: float = 3.0,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded ``(logits, target)``: normal logits times ``scale`` and a binary target with about
    ``lesion_fraction`` lesion voxels grown into blobs, so boundary losses see real shapes."""
    gen = torch.Generator().manual_seed(seed)
    logits = (torch.randn(shape, generator=gen) * scale).to(dtype)
    seeds = (torch.rand(shape, generator=gen) < lesion_fraction / 7).to(dtype)
    # grow each seed into a small face-connected blob
    blob = torch.nn.functional.max_pool3d(seeds.reshape(-1, 1, *shape[2:]), 3, 1, 1)
    target = (blob.reshape(shape) > 0).to(dtype)
    return logits, target


def perfect_logits(target: torch.Tensor, margin: float = 100.0) -> torch.Tensor:
    """Confident logits that agree with a binary target: +margin on lesion, -margin elsewhere."""
    return (target * 2 - 1) * margin
