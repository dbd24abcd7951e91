"""The plan of a run before it starts (``lossbench run --dry-run``): its trials and an estimate
of its training time from three measured steps of the configured V-Net."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from lossbench.config import Config, resolve_device, resolve_precision, validate
from lossbench.train import autocast_dtype, build_model
from lossbench.tuning import tuning_grid

__all__ = ["plan"]


def _step_seconds(config: Config, device: torch.device) -> float:
    """The median wall time of three training steps of the configured V-Net on ``device``."""
    model = build_model(config, 0).to(device)
    optimizer = torch.optim.Adam(model.parameters())
    size = config.train.patch_size
    x = torch.randn(config.train.batch_size, model.in_channels, size, size, size, device=device)
    dtype = autocast_dtype(resolve_precision(config.train.precision, device.type))
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        optimizer.zero_grad()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = model(x)
        out.float().mean().backward()
        optimizer.step()
        timings.append(time.perf_counter() - start)
    return float(np.median(timings))


def plan(config: Config, losses: Sequence[str]) -> str:
    """The trial plan and an estimated time (from the measured speed of one training step).

    Example:
        >>> from lossbench.config import preset
        >>> "trials" in plan(preset("quick"), ["dice"])
        True
    """
    validate(config)
    device = resolve_device(config.device)
    step = _step_seconds(config, device)
    data, train = config.data, config.train
    trials = len(losses) * len(config.seeds)
    tuning = len(tuning_grid(config, losses))
    pretraining = train.init == "pretrain"
    steps = (trials + tuning) * train.iterations + (train.pretrain_iterations if pretraining else 0)
    source = data.source
    if source == "synthetic":
        fov = "x".join(str(n) for n in data.shape)
        source += (
            f" {data.phantom} phantom, {fov} voxels of {'x'.join(f'{v:g}' for v in data.spacing)}"
            f" mm ({data.cases} train / {data.test_cases} test cases)"
        )
    after = f" after a {train.pretrain_iterations}-iteration pretraining" if pretraining else ""
    precision = resolve_precision(train.precision, device.type)
    return "\n".join(
        [
            f"preset {config.preset}: {len(losses)} losses x {len(config.seeds)} seeds = "
            f"{trials} trials"
            + (f", after {tuning} tuning trials (budget {config.tune.budget})" if tuning else ""),
            f"losses: {', '.join(losses)}",
            f"data: {source}",
            f"model: V-Net width {config.model.width}, {config.model.levels} levels; patch "
            f"{train.patch_size}^3, batch {train.batch_size}, {train.iterations} iterations per "
            f"trial{after}",
            f"device {device}, {precision}: {step * 1000:.0f} ms per step -> about "
            f"{steps * step / 60:.1f} min of training, plus data generation and evaluation",
        ]
    )
