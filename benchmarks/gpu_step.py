"""Training-step time and memory of every registered loss on a CUDA device.

The step is the paper preset's: its V-Net (``lossbench.train.build_model``), a batch of
``train.batch_size`` images of 3 x ``train.patch_size``^3 voxels with lesion-like targets, bf16
autocast for the network, the loss in float32, Adam. For each loss it prints the median step time,
the peak GPU memory of a step, the median time of the loss alone (forward and backward on the
step's logits) and its share of the step. A loss that needs target maps gets them as the trainer
gives them (computed on the CPU before the step, then moved to the device); the last column times
the loss alone when it computes them itself, on the device. Usage::

    python benchmarks/gpu_step.py [--losses PATTERN] [--repeats 10] [--warmup 3]

Without CUDA it says so and exits with status 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tabulate import tabulate

from lossbench.config import preset
from lossbench.losses import create_loss, list_losses
from lossbench.train import build_model


def synthetic_targets(batch: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Lesion-like binary targets: six balls of radius 0.5 to 3.5 voxels in each cubic patch.

    Args:
        batch: number of patches.
        size: patch edge (voxels), at least 9.
        generator: drives the centres and radii.

    Returns:
        float32 (batch, 1, size, size, size) of 0 and 1, on the CPU.

    Example:
        >>> y = synthetic_targets(2, 16, torch.Generator().manual_seed(0))
        >>> tuple(y.shape), y.dtype, bool(0 < y.mean() < 0.1)
        ((2, 1, 16, 16, 16), torch.float32, True)
    """
    grid = torch.stack(torch.meshgrid(*[torch.arange(float(size))] * 3, indexing="ij"))
    target = torch.zeros(batch, 1, size, size, size)
    for case in target:
        for _ in range(6):
            centre = torch.randint(4, size - 4, (3, 1, 1, 1), generator=generator).float()
            radius = float(torch.rand(1, generator=generator)) * 3 + 0.5
            case[0][((grid - centre) ** 2).sum(0) <= radius**2] = 1
    return target


@dataclass
class _Setup:
    """The shared start of every loss's steps: model, initial weights, batch and learning rate."""

    model: torch.nn.Module
    initial: dict[str, torch.Tensor]
    x: torch.Tensor
    y: torch.Tensor
    y_cpu: torch.Tensor
    lr: float


def _median_ms(run: Callable[[], None], repeats: int, warmup: int) -> float:
    """Median time (ms) of ``run`` between CUDA events, after ``warmup`` untimed runs."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        run()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def _measure(name: str, setup: _Setup, repeats: int, warmup: int) -> list[Any]:
    """One row of the table: loss, step ms, peak MiB, loss ms, share %, loss ms with own maps."""
    model, x, y = setup.model, setup.x, setup.y
    model.load_state_dict(setup.initial)
    optimizer = torch.optim.Adam(model.parameters(), lr=setup.lr)
    loss_fn = create_loss(name)
    maker = getattr(loss_fn, "target_maps", None)
    maps = maker(setup.y_cpu) if callable(maker) else None
    given = {"target_maps": {k: m.to(x.device) for k, m in maps.items()}} if maps else {}

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(x)
        loss_fn(logits.float(), y, **given).backward()
        optimizer.step()

    step()  # Adam's state is allocated at the first step
    torch.cuda.reset_peak_memory_stats()
    step_ms = _median_ms(step, repeats, warmup)
    peak_mib = torch.cuda.max_memory_allocated() / 2**20
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(x).float()
    logits.requires_grad_(True)

    def loss_alone(kwargs: dict[str, Any]) -> Callable[[], None]:
        def run() -> None:
            logits.grad = None
            loss_fn(logits, y, **kwargs).backward()

        return run

    loss_ms = _median_ms(loss_alone(given), repeats, warmup)
    own_maps = f"{_median_ms(loss_alone({}), repeats, warmup):.2f}" if maps else "-"
    return [
        name,
        f"{step_ms:.1f}",
        f"{peak_mib:.0f}",
        f"{loss_ms:.2f}",
        f"{100 * loss_ms / step_ms:.1f}",
        own_maps,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table for the losses matching ``--losses``; return the exit status (0).

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()):  # the table, or a line without CUDA
        ...     status = main(["--losses", "dice", "--repeats", "1", "--warmup", "0"])
        >>> status
        0
    """
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--losses", default="*", help="shell-style pattern of loss names")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before them")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_step.py needs a CUDA device; torch sees none")
        return 0
    config = preset("paper")
    batch, size = config.train.batch_size, config.train.patch_size
    device = torch.device("cuda")
    generator = torch.Generator().manual_seed(0)
    y_cpu = synthetic_targets(batch, size, generator)
    model = build_model(config, 0).to(device)
    setup = _Setup(
        model=model,
        initial={k: v.clone() for k, v in model.state_dict().items()},
        x=torch.randn(batch, 3, size, size, size, generator=generator).to(device),
        y=y_cpu.to(device),
        y_cpu=y_cpu,
        lr=config.train.lr,
    )
    print(
        f"{torch.cuda.get_device_name(device)}; paper preset: V-Net width {config.model.width}, "
        f"{config.model.levels} levels, batch {batch} x 3 x {size}^3, bf16 autocast, loss in "
        f"float32, Adam; median of {args.repeats} runs after {args.warmup}"
    )
    rows = [_measure(name, setup, args.repeats, args.warmup) for name in list_losses(args.losses)]
    headers = [
        "loss",
        "step (ms)",
        "peak memory (MiB)",
        "loss fwd+bwd (ms)",
        "loss share of step (%)",
        "loss with maps made on the GPU (ms)",
    ]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
