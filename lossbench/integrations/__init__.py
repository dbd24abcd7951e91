"""lossbench's losses used from other frameworks: :mod:`lossbench.integrations.nnunet` makes an
nnU-Net v2 trainer of every registered loss (optional extra ``nnunet``)."""

from __future__ import annotations

__all__ = ["NNUNET_MISSING"]

NNUNET_MISSING = (
    'the nnU-Net integration needs nnU-Net v2: pip install -e ".[nnunet]" (or pip install nnunetv2)'
)
"""The one-line message when the nnU-Net integration is asked for without the ``nnunet`` extra."""
