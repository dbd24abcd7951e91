"""Shared input of the speed benchmarks: the HyTver study's batch and patch."""

from __future__ import annotations

import pytest
import torch

SHAPE = (4, 1, 80, 80, 80)  # batch 4, patch 80^3


@pytest.fixture(scope="session")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded float32 logits and a sparse binary target (~0.2% lesion, blobs)."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(SHAPE, generator=gen)
    seeds = (torch.rand(SHAPE, generator=gen) < 0.002 / 27).float()
    target = torch.nn.functional.max_pool3d(seeds.reshape(4, 1, 80, 80, 80), 3, 1, 1)
    return logits, target
