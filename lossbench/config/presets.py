"""The named protocols: ``quick`` (the default), ``tuned`` (quick with a tuning budget of 8
configurations per loss, learning rates 1e-4, 3e-4 and 1e-3 among them), ``standard``,
``scratch`` and ``paper``."""

from __future__ import annotations

from collections.abc import Callable

from lossbench._text import suggest
from lossbench.config.schema import Config, EvalConfig, ModelConfig, TrainConfig

__all__ = ["PRESETS", "WHOLE_BRAIN", "preset"]


def _quick() -> Config:
    return Config()


WHOLE_BRAIN = [160, 192, 160]
"""The anatomy phantom's whole brain at 1 mm (the template's brain spans 145 x 182 x 154 mm)."""


def _whole_brain(config: Config) -> Config:
    config.data.shape = list(WHOLE_BRAIN)
    config.data.centre = "brain"
    return config


def _standard() -> Config:
    config = Config(preset="standard", seeds=[0, 1, 2])
    config.data.test_cases = 48
    return _whole_brain(config)


def _scratch() -> Config:
    config = Config(preset="scratch")
    config.train.init = "scratch"
    config.train.iterations = 600
    config.train.lr = 1e-3
    return config


def _paper() -> Config:
    config = Config(preset="paper")
    config.data.target_spacing = [0.5, 0.75, 0.75]
    config.model = ModelConfig(width=16, levels=5)
    config.train = TrainConfig(
        iterations=250,
        batch_size=4,
        lr=1e-3,
        patch_size=80,
        max_shift=10,
        init="pretrain",
        pretrain_iterations=2000,
        pretrain_lr=1e-3,
    )
    config.eval = EvalConfig(window=0, overlap=0.5)  # windows of the training patch, half overlap
    return _whole_brain(config)


def _tuned() -> Config:
    config = Config(preset="tuned")
    config.tune.budget = 8
    config.tune.lr = [1e-4, 1e-3]  # with train.lr, 3e-4: a loss without ranges tunes its rate
    return config


PRESETS: dict[str, Callable[[], Config]] = {
    "quick": _quick,
    "tuned": _tuned,
    "standard": _standard,
    "scratch": _scratch,
    "paper": _paper,
}
"""Preset name -> a function that makes a fresh configuration of it."""


def preset(name: str) -> Config:
    """A fresh configuration of a named preset.

    Raises:
        ValueError: an unknown name, with the closest one.

    Example:
        >>> preset("paper").train.patch_size
        80
    """
    if name not in PRESETS:
        raise ValueError(
            f"unknown preset {name!r}{suggest(name, PRESETS)} (valid: {', '.join(PRESETS)})"
        )
    return PRESETS[name]()
