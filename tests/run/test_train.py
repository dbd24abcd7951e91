"""The trainer hands each loss the target maps computed with the batch, off the training thread."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from lossbench.layout import RunLayout
from lossbench.losses import Loss, get_loss_class
from lossbench.train import train_trial
from tests._helpers.runs import tiny


def _cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    cases = []
    for _ in range(2):
        label = np.zeros((20, 20, 20), np.uint8)
        label[8:12, 7:13, 9:12] = 1
        cases.append((rng.standard_normal((3, 20, 20, 20)).astype(np.float32), label))
    return cases


def test_target_maps_are_made_by_the_batch_thread_and_reach_the_loss(
    tmp_path: Path, monkeypatch
) -> None:
    cls = get_loss_class("boundary")
    assert isinstance(cls, type) and issubclass(cls, Loss)
    made, received = [], []
    make, forward = cls.target_maps, cls.forward

    def spy_make(self, target):
        made.append(threading.current_thread() is threading.main_thread())
        return make(self, target)

    def spy_forward(self, logits, target, target_maps=None):
        received.append(target_maps is not None)
        return forward(self, logits, target, target_maps)

    monkeypatch.setattr(cls, "target_maps", spy_make)
    monkeypatch.setattr(cls, "forward", spy_forward)
    config = tiny(["boundary"])
    trial = RunLayout(tmp_path).trial("boundary", 0)
    train_trial("boundary", 0, _cases(), config, trial, torch.device("cpu"), progress=False)
    iterations = config.train.iterations
    assert made == [False] * iterations and received == [True] * iterations


def test_precomputed_maps_train_exactly_as_maps_made_inside_the_loss(
    tmp_path: Path, monkeypatch
) -> None:
    config = tiny(["hausdorff_dt"])
    device = torch.device("cpu")
    layout = RunLayout(tmp_path)
    outside, _ = train_trial(
        "hausdorff_dt", 0, _cases(), config, layout.trial("a", 0), device, progress=False
    )
    monkeypatch.setattr(get_loss_class("hausdorff_dt"), "target_maps", lambda self, target: None)
    inside, _ = train_trial(
        "hausdorff_dt", 0, _cases(), config, layout.trial("b", 0), device, progress=False
    )
    a, b = outside.state_dict(), inside.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
