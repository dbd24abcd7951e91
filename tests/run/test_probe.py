"""Gradient anatomy: the shares of a hand-computed loss's gradient, and probes that change no
weight."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lossbench.config import apply_overrides
from lossbench.layout import TrialLayout
from lossbench.losses import create_loss
from lossbench.probe import PROBE_COLUMNS, gradient_shares
from lossbench.train import train_trial
from tests._helpers.runs import tiny

# the 2x2x2 case of tests/losses/test_hand_computed.py: p = 3/4, 1/4 on the two lesion voxels,
# 1/2, 1/2, then 1/4 four times on the background
P = torch.tensor([0.75, 0.25, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25], dtype=torch.float64)
LOGITS = torch.log(P / (1 - P)).reshape(1, 1, 2, 2, 2)
TARGET = torch.tensor([1, 1, 0, 0, 0, 0, 0, 0], dtype=torch.float64).reshape(1, 1, 2, 2, 2)


def _grad(name: str, **params: float) -> torch.Tensor:
    z = LOGITS.clone().requires_grad_(True)
    create_loss(name, **params)(z, TARGET).backward()
    assert z.grad is not None
    return z.grad


def test_the_shares_of_the_cross_entropy_gradient_equal_their_analytic_values() -> None:
    # dCE/dz = (p - y) / 8: masses 1/4, 3/4 on the lesion, 1/2, 1/2, 1/4 x 4 on the background,
    # 3 in all; no voxel has p > 0.5 off the lesion; voxel 1 (p = 1/4) is a false negative;
    # 0.9 x 3 = 2.7 needs the 7 largest masses (3/4 + 1/2 + 1/2 + 1/4 x 4 = 2.75)
    shares = gradient_shares(_grad("ce"), LOGITS, TARGET)
    expected = {"grad_lesion": 1 / 3, "grad_fp": 0.0, "grad_fn": 0.25, "grad_top90": 7 / 8}
    assert shares == pytest.approx(expected, rel=1e-12)


def test_the_shares_of_the_dice_gradient_equal_their_analytic_values() -> None:
    # Dice = 2 TP / S with TP = 1, S = sum p + sum y = 5: dD/dp_i = (2 y_i S - 2 TP) / S^2, so
    # 8/25 on a lesion voxel and -2/25 on a background one; times p(1-p) for dz:
    # lesion 3/16 x 8/25 each, background 1/4 x 2/25 twice and 3/16 x 2/25 four times
    lesion, half, quarter = 3 / 16 * 8 / 25, 1 / 4 * 2 / 25, 3 / 16 * 2 / 25
    total = 2 * lesion + 2 * half + 4 * quarter
    shares = gradient_shares(_grad("dice", smooth=0.0), LOGITS, TARGET)
    assert shares["grad_lesion"] == pytest.approx(2 * lesion / total, rel=1e-9)
    assert shares["grad_fn"] == pytest.approx(lesion / total, rel=1e-9)
    assert shares["grad_fp"] == 0.0


def test_a_zero_gradient_has_no_shares() -> None:
    shares = gradient_shares(torch.zeros_like(LOGITS), LOGITS, TARGET)
    assert all(math.isnan(v) for v in shares.values())


def _cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    label = np.zeros((20, 20, 20), np.uint8)
    label[8:12, 8:12, 8:12] = 1
    return [(rng.normal(size=(3, 20, 20, 20)).astype(np.float32), label)]


def test_probing_leaves_the_trained_weights_bit_identical(tmp_path: Path) -> None:
    weights, histories = [], []
    for every in (0, 1, 3):
        config = apply_overrides(tiny(["hytver"]), [f"train.probe_every={every}"])
        trial = TrialLayout(tmp_path / f"every{every}")
        model, _ = train_trial("hytver", 0, _cases(), config, trial, torch.device("cpu"))
        weights.append({k: v.clone() for k, v in model.state_dict().items()})
        histories.append(pd.read_csv(trial.history))
    for other in weights[1:]:
        assert all(torch.equal(weights[0][k], other[k]) for k in weights[0])
    off, every_step, every_third = histories
    assert off[list(PROBE_COLUMNS)].isna().all().all()
    assert every_step[list(PROBE_COLUMNS)].notna().all().all()
    probed = every_third["grad_lesion"].notna().tolist()
    assert probed == [i % 3 == 0 for i in range(len(every_third))]  # steps 1 and 4 of 4
    assert off["loss"].equals(every_step["loss"])
    shares = every_step[list(PROBE_COLUMNS)]
    assert ((shares >= 0) & (shares <= 1)).all().all()
