"""Where each loss may be tuned: its declared search ranges, one table for the built-in losses.

A range is ``(low, high)`` for one hyper-parameter; the tuned protocol draws a loss's
configurations inside its ranges (a Sobol sample, :mod:`lossbench.tuning`). A loss without
ranges (Dice, CE, Lovász hinge, ...) has nothing to tune but the learning rate. The ranges stay
inside each parameter's valid values and around its published default; the smoothing constants
and the boundary loss's schedule are not tuned, and the released variants keep their code's
values. A plugin declares its own as a class attribute ``search_space = {"name": (low, high)}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from lossbench.losses.registry import get_loss_class, loss_defaults

__all__ = ["SEARCH_SPACES", "search_space"]

Ranges = Mapping[str, tuple[float, float]]

_FOCAL = {"alpha": (0.1, 0.9), "gamma": (0.0, 4.0)}
_TVERSKY = {"fp_weight": (0.05, 0.95), "fn_weight": (0.05, 0.95)}
_UNIFIED = {"weight": (0.1, 0.9), "delta": (0.4, 0.9), "gamma": (0.1, 0.9)}

SEARCH_SPACES: dict[str, Ranges] = {
    "focal": _FOCAL,
    "focal_dice": {"lambda_focal": (0.25, 4.0), **_FOCAL},
    "tversky": _TVERSKY,
    "focal_tversky": {**_TVERSKY, "gamma": (0.5, 3.0)},
    "dice_ce": {"lambda_ce": (0.25, 4.0)},
    "combo": {"alpha": (0.1, 0.9), "beta": (0.1, 0.9)},
    "weighted_ce": {"pos_weight": (0.5, 0.99)},
    "hytver": {"alpha": (0.3, 0.9), "beta": (0.3, 0.9), "gamma": (0.1, 0.9)},
    "dice_pp": {"gamma": (0.5, 4.0)},
    "symmetric_unified_focal": _UNIFIED,
    "asymmetric_unified_focal": _UNIFIED,
    "hausdorff_dt": {"alpha": (1.0, 3.0)},
    "log_hausdorff_dt": {"alpha": (1.0, 3.0)},
    "topk": {"k": (1.0, 30.0)},
    "dice_topk": {"k": (1.0, 30.0), "lambda_topk": (0.25, 4.0)},
    "sensitivity_specificity": {"r": (0.01, 0.3)},
    "blob_dice": {"blob_weight": (0.25, 4.0)},
    "exp_log": {"ce_weight": (0.05, 1.0), "gamma": (0.1, 1.0)},
}
"""The built-in losses' search ranges; a loss not listed has none."""


def search_space(name: str) -> dict[str, tuple[float, float]]:
    """The declared search ranges of a registered loss, in its parameters' order.

    Raises:
        ValueError: an unknown loss, or a plugin's range on a parameter the loss does not have
            or with ``low > high``.

    Example:
        >>> search_space("hytver")
        {'alpha': (0.3, 0.9), 'beta': (0.3, 0.9), 'gamma': (0.1, 0.9)}
        >>> search_space("dice")
        {}
    """
    cls = get_loss_class(name)
    ranges = dict(getattr(cls, "search_space", None) or SEARCH_SPACES.get(name, {}))
    defaults = loss_defaults(name)
    for key, (low, high) in ranges.items():
        if key not in defaults or not low <= high:
            raise ValueError(
                f"{name}: search range {key}=({low}, {high}) names no parameter of the loss or "
                f"is empty (parameters: {', '.join(defaults)})"
            )
    return {key: ranges[key] for key in defaults if key in ranges}
