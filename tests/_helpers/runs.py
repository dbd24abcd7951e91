"""A tiny run configuration: seconds per trial on a CPU."""

from __future__ import annotations

import dataclasses

from lossbench.config import Config, apply_overrides, preset

TINY = [
    "data.phantom=blobs",
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


RECORDED = [
    "data.phantom=blobs",
    "data.lesion_free=0.25",
    "data.cases=3",
    "data.test_cases=4",
    "data.shape=28,28,28",
    "train.iterations=12",
    "train.pretrain_iterations=40",
    "train.patch_size=16",
    "train.checkpoint_every=2",
    "model.width=4",
    "model.levels=2",
    "train.threads=1",
    "train.pretrain_lr=0.01",
    "train.lr=0.003",
]
"""The configuration of ``tests/fixtures/run-0.1`` (the blob phantom and its share of lesion-free
cases of the time; with ``losses = dice, ce``, ``seeds = 0, 1``,
``device = cpu``): small enough for seconds, trained enough that the losses' predictions differ.
The session's shared run (``tiny_run``) uses it too."""


def recorded() -> Config:
    config = apply_overrides(preset("quick"), RECORDED)
    config.losses, config.seeds, config.device = ["dice", "ce"], [0, 1], "cpu"
    return config
