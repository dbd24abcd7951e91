"""Networks: the shared V-Net."""

from __future__ import annotations

from lossbench.models.vnet import MIN_LEVELS, VNet, count_parameters, size_multiple

__all__ = ["MIN_LEVELS", "VNet", "count_parameters", "size_multiple"]
