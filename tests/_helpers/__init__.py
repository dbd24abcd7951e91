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


def _released_traits() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    from lossbench.losses import get_loss_class, list_losses

    released = frozenset(
        n for n in list_losses() if getattr(get_loss_class(n), "family", "") == "released"
    )
    # the defects of released code: no minimum at 0 (focal's loss never approaches 0; the swapped
    # cross-entropies and the wrong-signed one go below 0; the clipped unified focal losses stop
    # short of 0) and "classes" read from the first two slices of the last axis
    negative = frozenset({"hytver_released", "combo_released", "asymmetric_unified_focal_released"})
    depth_two = frozenset(n for n in released if "unified_focal" in n)
    return released - {"logcosh_dice_released", "dice_pp_released"}, negative, depth_two


NOT_ZERO_AT_BEST, NEGATIVE, DEPTH_TWO = _released_traits()
"""Registered losses whose best value is not 0 (``boundary`` aside, whose level-set term is
negative by design), those that go below 0, and those that need two slices on the last axis."""
