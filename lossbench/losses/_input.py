"""The one input step every loss shares, written once: a (logits, target) pair checked, and
turned into the lesion logit and the float target in the computing dtype."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_target_values", "lesion_input"]


def check_target_values(target: Tensor) -> None:
    """Refuse a complex target, and a CPU target with values outside [0, 1].

    Raises:
        TypeError: a complex ``target``.
        ValueError: a CPU ``target`` with a value outside [0, 1] (its minimum and maximum named).

    Example:
        >>> check_target_values(torch.tensor([0.0, 0.5, 1.0]))
        >>> check_target_values(torch.tensor([0.0, 2.0]))
        Traceback (most recent call last):
        ...
        ValueError: `target` values must lie in [0, 1], got min 0 and max 2
    """
    if target.is_complex():
        raise TypeError(f"`target` must be bool, integer or float, got dtype {target.dtype}")
    if target.device.type == "cpu" and target.dtype is not torch.bool and target.numel() > 0:
        low, high = torch.aminmax(target.detach())
        low_v, high_v = float(low), float(high)
        if not (low_v >= 0.0 and high_v <= 1.0):
            raise ValueError(
                f"`target` values must lie in [0, 1], got min {low_v:g} and max {high_v:g}"
            )


def lesion_input(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Validate a (logits, target) pair and return the lesion logit and the float target.

    Args:
        logits: float tensor (B, C, *spatial) of raw network outputs, C = 1 (sigmoid) or C = 2
            (softmax, channel 1 is the lesion).
        target: (B, 1, *spatial) or (B, *spatial), bool, integer or float with values in [0, 1].
            The values are checked only for a CPU target: reading the minimum and maximum of a
            GPU tensor would make the host wait for the device at every call. A GPU target is
            trusted to have been checked where it was made (the trainer's labels are made, and
            checked, on the host).

    Returns:
        ``(z, y)``, both (B, *spatial) in the computing dtype: float64 for float64 ``logits``,
        float32 for any other float dtype (float16 and bfloat16 sums of a 3D patch overflow or
        stop counting), so every loss is computed, and returned, in that dtype while the gradient
        reaching ``logits`` is cast back to theirs. ``z`` is the lesion logit, so that
        ``sigmoid(z)`` is the lesion probability. For C = 2, ``z = logits[:, 1] - logits[:, 0]``
        (the softmax of two channels is the sigmoid of their difference), so ``[0, z]`` gives
        exactly the C = 1 result for ``z``.

    Example:
        >>> mask = torch.ones(2, 4, 4, 4, dtype=torch.bool)
        >>> z, y = lesion_input(torch.zeros(2, 2, 4, 4, 4, dtype=torch.float16), mask)
        >>> tuple(z.shape), z.dtype, y.dtype
        ((2, 4, 4, 4), torch.float32, torch.float32)
    """
    _check_logits(logits, target)
    y = _target_view(logits, target)
    check_target_values(target)
    compute = torch.float64 if logits.dtype == torch.float64 else torch.float32
    logits = logits.to(compute)  # the same tensor for float32 and float64
    # squeeze/unbind rather than indexing: the backward of logits[:, 0] zero-fills and copies a
    # full-size tensor, which cost a third of the Dice loss's time
    if logits.shape[1] == 1:
        z = logits.squeeze(1)
    else:
        background, lesion = logits.unbind(1)
        z = lesion - background
    return z, y.to(compute)


def _check_logits(logits: Tensor, target: Tensor) -> None:
    """Refuse anything but two tensors, and logits that are not float (B, 1 or 2, *spatial)."""
    if not isinstance(logits, Tensor) or not isinstance(target, Tensor):
        raise TypeError(
            "`logits` and `target` must be torch tensors, got "
            f"{type(logits).__name__} and {type(target).__name__}"
        )
    if not logits.is_floating_point():
        raise TypeError(
            f"`logits` must be a floating-point tensor of raw network outputs, "
            f"got dtype {logits.dtype}"
        )
    if logits.ndim < 3 or logits.shape[1] not in (1, 2):
        raise ValueError(
            "`logits` must have shape (B, C, *spatial) with C = 1 (sigmoid) or C = 2 (softmax, "
            f"channel 1 = lesion), got {tuple(logits.shape)}"
        )


def _target_view(logits: Tensor, target: Tensor) -> Tensor:
    """``target`` as (B, *spatial), after checking its shape and device against ``logits``."""
    batch, spatial = logits.shape[0], logits.shape[2:]
    if target.shape == (batch, 1, *spatial):
        y = target.squeeze(1)
    elif target.shape == (batch, *spatial):
        y = target
    else:
        raise ValueError(
            f"`target` must have shape {(batch, 1, *spatial)} or {(batch, *spatial)} to match "
            f"`logits` {tuple(logits.shape)}, got {tuple(target.shape)}"
        )
    if target.device != logits.device:
        raise ValueError(
            f"`target` is on {target.device} but `logits` on {logits.device}; "
            "move both to one device"
        )
    return y
