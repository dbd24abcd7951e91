"""What a lossbench nnU-Net trainer is told, and checked: the dataset's labels, and the two
environment variables it reads when it starts.

- :data:`PARAMS_ENV`: JSON ``{"<loss>": {"<hyper-parameter>": value}}``; losses not named keep
  the registry's defaults.
- :data:`TRAINER_ENV`: JSON of nnU-Net trainer settings among :data:`TRAINER_SETTINGS`.

Nothing here needs nnU-Net itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from lossbench.losses import list_losses

__all__ = [
    "PARAMS_ENV",
    "TRAINER_ENV",
    "TRAINER_SETTINGS",
    "binary_label",
    "env_params",
    "trainer_settings",
]

PARAMS_ENV = "LOSSBENCH_NNUNET_LOSS_PARAMS"
"""JSON ``{loss: {hyper-parameter: value}}`` for the losses of lossbench's trainers."""
TRAINER_ENV = "LOSSBENCH_NNUNET_TRAINER"
"""JSON of nnU-Net trainer settings (keys among :data:`TRAINER_SETTINGS`)."""
TRAINER_SETTINGS: dict[str, type] = {
    "num_epochs": int,
    "num_iterations_per_epoch": int,
    "num_val_iterations_per_epoch": int,
    "initial_lr": float,
    "weight_decay": float,
    "oversample_foreground_percent": float,
    "save_every": int,
    "enable_deep_supervision": bool,
    "final_validation": bool,
}
"""The settings :data:`TRAINER_ENV` may hold, with their types: nnU-Net trainer attributes, and
``final_validation`` (lossbench's; default true): false skips nnU-Net's prediction of the fold's
validation cases after training."""


def binary_label(labels: Mapping[str, Any], where: str = "dataset.json") -> int:
    """The one foreground label of an nnU-Net ``labels`` mapping, refusing any other task.

    Args:
        labels: ``dataset.json``'s ``"labels"``: name -> integer value (or a list, for regions).
        where: what to name in the error (a file, a dataset).

    Raises:
        ValueError: regions, an ``ignore`` label, or not exactly one foreground label besides
            ``background`` = 0; the message lists the labels found.

    Example:
        >>> binary_label({"background": 0, "new_lesion": 1})
        1
        >>> binary_label({"background": 0, "edema": 1, "tumour": 2})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: lossbench's losses are binary ... labels {'edema': 1, 'tumour': 2}
    """
    shown = dict(labels)
    if any(isinstance(v, (list, tuple)) for v in shown.values()):
        raise ValueError(f"lossbench's losses are binary, but {where} defines regions: {shown}")
    if "ignore" in shown:
        raise ValueError(f"lossbench's losses take no ignore label, but {where} has one: {shown}")
    foreground = {k: v for k, v in shown.items() if k != "background"}
    if shown.get("background") != 0 or len(foreground) != 1:
        raise ValueError(
            "lossbench's losses are binary (background and one lesion label), but "
            f"{where} has the foreground labels {foreground}"
        )
    return int(next(iter(foreground.values())))


def _json_env(variable: str) -> dict[str, Any]:
    text = os.environ.get(variable, "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{variable} must hold a JSON object, got {text!r}: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{variable} must hold a JSON object, got {text!r}")
    return value


def trainer_settings(given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The nnU-Net trainer settings ``given`` (default: those of :data:`TRAINER_ENV`), checked
    and typed.

    Raises:
        ValueError: not a JSON object, an unknown key, or a value of the wrong type.

    Example:
        >>> os.environ[TRAINER_ENV] = '{"num_epochs": 2}'
        >>> trainer_settings()
        {'num_epochs': 2}
        >>> del os.environ[TRAINER_ENV]
    """
    settings = _json_env(TRAINER_ENV) if given is None else dict(given)
    for key, value in settings.items():
        kind = TRAINER_SETTINGS.get(key)
        if kind is None:
            raise ValueError(
                f"{TRAINER_ENV}: unknown setting {key!r}; known: {', '.join(TRAINER_SETTINGS)}"
            )
        ok = (
            isinstance(value, bool)
            if kind is bool
            else (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and (kind is float or float(value).is_integer())
            )
        )
        if not ok:
            raise ValueError(f"{TRAINER_ENV}: {key} must be {kind.__name__}, got {value!r}")
        settings[key] = kind(value)
    return settings


def env_params(loss: str) -> dict[str, Any]:
    """The hyper-parameters :data:`PARAMS_ENV` gives ``loss``, after checking its loss names."""
    given = _json_env(PARAMS_ENV)
    known = set(list_losses())
    for name, params in given.items():
        if name not in known:
            raise ValueError(f"{PARAMS_ENV}: {name!r} is not a registered loss")
        if not isinstance(params, dict):
            raise ValueError(
                f"{PARAMS_ENV}: the value for {name!r} must be an object, got {params!r}"
            )
    return dict(given.get(loss, {}))
