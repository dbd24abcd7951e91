"""Networks: the shared V-Net."""

from __future__ import annotations

from lossbench.models.vnet import VNet, count_parameters

__all__ = ["VNet", "count_parameters"]
