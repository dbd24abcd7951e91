"""What the gradient probes cost: a quick-preset trial timed with ``train.probe_every`` 0, 10
and 1, side by side, repeated in alternating order; prints the median seconds per step and the
ratios to the probe-free trial.

    python benchmarks/probe_cost.py [--loss hytver] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lossbench.config import apply_overrides, preset
from lossbench.layout import TrialLayout
from lossbench.train import train_trial


def _cases(count: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    """Quick-preset-sized cases (three channels, 64 x 80 x 64) with a few cubic lesions."""
    rng = np.random.default_rng(0)
    cases = []
    for _ in range(count):
        label = np.zeros((64, 80, 64), np.uint8)
        for _ in range(4):
            x, y, z = rng.integers(8, 56), rng.integers(8, 72), rng.integers(8, 56)
            label[x - 2 : x + 2, y - 2 : y + 2, z - 2 : z + 2] = 1
        cases.append((rng.normal(size=(3, 64, 80, 64)).astype(np.float32), label))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", default="hytver")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cases = _cases()
    seconds: dict[int, list[float]] = {0: [], 10: [], 1: []}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            order = [0, 10, 1] if repeat % 2 == 0 else [1, 10, 0]
            for every in order:
                config = apply_overrides(preset("quick"), [f"train.probe_every={every}"])
                config.train.init = "scratch"
                trial = TrialLayout(Path(folder) / f"{every}-{repeat}")
                start = time.perf_counter()
                train_trial(args.loss, 0, cases, config, trial, torch.device("cpu"))
                seconds[every].append((time.perf_counter() - start) / config.train.iterations)
    base = statistics.median(seconds[0])
    for every, values in seconds.items():
        median = statistics.median(values)
        print(
            f"probe_every={every:>2}: {median * 1000:.2f} ms per step "
            f"({median / base:.3f} x the probe-free step)"
        )


if __name__ == "__main__":
    main()
