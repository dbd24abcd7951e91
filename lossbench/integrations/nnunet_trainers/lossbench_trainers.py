"""nnU-Net v2 trainers for every lossbench loss: ``nnUNetTrainer_lb_<loss>``.

nnU-Net finds a trainer by looking its class name up in the modules of its trainer folders; this
module answers the names that start with ``nnUNetTrainer_lb_`` and leaves every other name to
the other modules. Placed in nnunetv2's trainer folder by ``lossbench nnunet install`` (and
removed by ``lossbench nnunet uninstall``), or found through ``nnUNet_extTrainer``.
"""

from __future__ import annotations

PREFIX = "nnUNetTrainer_lb_"


def __getattr__(name: str) -> type:
    if not name.startswith(PREFIX):
        raise AttributeError(name)
    from lossbench.integrations.nnunet import trainer_class

    return trainer_class(name)
