"""Gradient anatomy: where a loss puts its gradient, read from a training step's own backward pass.

Every ``train.probe_every`` steps the trainer keeps the gradient of the loss with respect to the
logits (``retain_grad`` on the tensor the loss receives: the same backward pass, the same
weights) and summarises its L1 mass ``|dL/dz|`` per voxel:

- ``grad_lesion``: the share on lesion voxels (the background has the rest);
- ``grad_fp`` and ``grad_fn``: the shares on false-positive voxels (p > 0.5, y = 0) and on
  false-negative voxels (p < 0.5, y = 1);
- ``grad_top90``: the fraction of voxels that carry 90% of the mass (small: the gradient is
  concentrated on a few voxels).

The shares do not depend on the loss's scale (nor on the fp16 loss scaling).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["PROBE_COLUMNS", "gradient_shares"]

PROBE_COLUMNS = ("grad_lesion", "grad_fp", "grad_fn", "grad_top90")
"""The ``history.csv`` columns of a probed step, in order (empty on the other steps)."""


def gradient_shares(grad: Tensor, logits: Tensor, target: Tensor) -> dict[str, float]:
    """The gradient's L1 mass on lesion, false-positive and false-negative voxels, and the
    fraction of voxels carrying 90% of it.

    Args:
        grad: ``dL/dlogits``, shaped like ``logits``.
        logits: (B, C, *spatial), C = 1 (sigmoid) or 2 (softmax; channel 1 is the lesion); the
            mass of a voxel sums its channels.
        target: (B, 1, *spatial) or (B, *spatial), lesion where > 0.5.

    Returns:
        ``{"grad_lesion", "grad_fp", "grad_fn", "grad_top90"}``, each in [0, 1]; all NaN when the
        gradient is 0 everywhere.

    Example:
        >>> z = torch.tensor([[[[[2.0, -2.0, -2.0, 2.0]]]]])  # p > 0.5 on voxels 0 and 3
        >>> y = torch.tensor([[[[[1.0, 1.0, 0.0, 0.0]]]]])  # voxel 1 a FN, voxel 3 a FP
        >>> g = torch.tensor([[[[[0.1, -0.6, 0.1, 0.2]]]]])
        >>> {k: round(v, 3) for k, v in gradient_shares(g, z, y).items()}
        {'grad_lesion': 0.7, 'grad_fp': 0.2, 'grad_fn': 0.6, 'grad_top90': 0.75}
    """
    with torch.no_grad():
        mass = grad.detach().abs().sum(1).flatten().double()
        z = logits.detach()
        p = torch.sigmoid(z[:, 0]) if z.shape[1] == 1 else torch.softmax(z, 1)[:, 1]
        y = (target.reshape(p.shape) > 0.5).flatten()
        positive = (p > 0.5).flatten()
        total = float(mass.sum())
        if not total > 0:
            return dict.fromkeys(PROBE_COLUMNS, math.nan)
        ordered = torch.sort(mass, descending=True).values.cumsum(0)
        carrying = int(torch.searchsorted(ordered, 0.9 * total).item()) + 1
        return {
            "grad_lesion": float(mass[y].sum()) / total,
            "grad_fp": float(mass[positive & ~y].sum()) / total,
            "grad_fn": float(mass[~positive & y].sum()) / total,
            "grad_top90": min(carrying, mass.numel()) / mass.numel(),
        }
