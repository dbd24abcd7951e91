"""A tiny run configuration: seconds per trial on a CPU."""

from __future__ import annotations

import dataclasses

from lossbench.config import Config, apply_overrides, preset

TINY = [
    "data.cases=3",
    "data.test_cases=3",
    "data.shape=28,28,28",
    "train.iterations=4",
    "train.pretrain_iterations=3",
    "train.patch_size=16",
    "train.checkpoint_every=2",
    "model.width=2",
    "model.levels=2",
]


def tiny(losses: list[str], **changes: object) -> Config:
    config = apply_overrides(preset("quick"), TINY)
    config.losses = losses
    config.device = "cpu"
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]
