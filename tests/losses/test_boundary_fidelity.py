"""The boundary loss as Kervadec et al. define it, and the training-progress hook it relies on.

Reference code LIVIAETS/boundary-loss: ``one_hot2dist`` (level-set map ``-(d - 1)`` inside),
``SurfaceLoss`` (``mean(phi p)``), generalised Dice as the regional term, and the
``StealWeight(0.01)`` scheduler of their runs (weights 1 and 0.01, 0.01 moved per epoch, floor
0.1, 100 epochs). MONAI's ``BoundaryLoss`` is the independent oracle of the boundary term.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from lossbench.layout import TrialLayout
from lossbench.losses import Loss, create_loss, generalized_dice_loss, registry
from lossbench.losses.boundary import (
    BoundaryLoss,
    boundary_loss,
    boundary_schedule,
    signed_distance,
)
from lossbench.losses.region import DiceLoss
from lossbench.train import train_trial
from tests._helpers import perfect_logits, random_case
from tests._helpers.runs import tiny

monai_losses = pytest.importorskip("monai.losses")

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)


def _mask(shape: tuple[int, ...], *voxels: tuple[int, ...]) -> torch.Tensor:
    mask = torch.zeros((1, *shape), dtype=torch.bool)
    for v in voxels:
        mask[0][v] = True
    return mask


# --- the level-set map ------------------------------------------------------------------------


def test_one_and_two_voxel_lesions_are_all_boundary() -> None:
    one = signed_distance(_mask((5, 5, 5), (2, 2, 2)))
    assert one[0, 2, 2, 2].item() == 0.0  # was -1
    assert one[0, 2, 2, 3].item() == 1.0 and one[0, 0, 0, 0].item() == pytest.approx(2 * 3**0.5)
    two = signed_distance(_mask((5, 5, 5), (2, 2, 2), (2, 2, 3)))
    assert two[0, 2, 2, 2].item() == two[0, 2, 2, 3].item() == 0.0  # were -1


def test_inside_a_cube_the_map_is_minus_depth_below_the_surface() -> None:
    cube = torch.zeros(1, 7, 7, 7, dtype=torch.bool)
    cube[0, 2:5, 2:5, 2:5] = True
    phi = signed_distance(cube)
    assert phi[0, 3, 3, 3].item() == -1.0  # was -2
    assert phi[0, 2, 3, 3].item() == 0.0  # a face voxel; was -1
    assert phi[0, 1, 3, 3].item() == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_matches_monai(seed: int) -> None:
    _, target = random_case(seed, shape=(2, 1, 10, 11, 12))
    theirs = monai_losses.BoundaryLoss().compute_distance_map(target)
    ours = signed_distance(target[:, 0] > 0.5)
    torch.testing.assert_close(ours.float(), theirs[:, 0], rtol=0, atol=1e-6)


# --- the schedule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("progress", "epochs", "expected"),
    [
        (0.0, 100, (1.0, 0.01)),  # the authors' initial weights
        (0.5, 100, (0.5, 0.51)),  # epoch 50: 50 steals of 0.01
        (1.0, 100, (0.1, 1.0)),  # epoch 99, the last: region at its floor since epoch 90
        (249 / 250, 100, (0.1, 1.0)),  # the last of 250 steps is in the last epoch
        (0.95, 10, (0.91, 0.1)),  # epoch 9 of 10
        (1.0, 2.5, (0.98, 0.03)),  # epoch 2, the third (partial) one
    ],
)
def test_schedule_values(progress: float, epochs: float, expected: tuple[float, float]) -> None:
    assert boundary_schedule(progress, epochs) == pytest.approx(expected, abs=1e-12)


@SETTINGS
@given(progress=st.floats(0.0, 1.0), epochs=st.integers(1, 300))
def test_schedule_is_the_authors_steal_rule_applied_once_per_epoch(
    progress: float, epochs: int
) -> None:
    weights = (1.0, 0.01)
    for _ in range(min(math.floor(progress * epochs), epochs - 1)):
        weights = (max(0.1, weights[0] - 0.01), weights[1] + 0.01)
    assert boundary_schedule(progress, epochs) == pytest.approx(weights, abs=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"progress": 1.5}, r"`progress` must be in \[0, 1\], got 1.5"),
        ({"progress": 0.5, "epochs": 0.5}, "`epochs` must be >= 1, got 0.5"),
    ],
)
def test_schedule_refuses_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        boundary_schedule(**kwargs)


def test_loss_refuses_bad_epochs_and_progress() -> None:
    with pytest.raises(ValueError, match=r"`epochs` must be >= 1, got 0"):
        create_loss("boundary", epochs=0)
    with pytest.raises(ValueError, match=r"`fraction` must be in \[0, 1\], got -0.1"):
        BoundaryLoss().set_progress(-0.1)


# --- the loss -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("batch", [True, False])
@pytest.mark.parametrize("progress", [0.0, 0.5, 1.0])
def test_loss_is_scheduled_gdl_plus_monai_boundary_term(
    seed: int, batch: bool, progress: float
) -> None:
    logits, target = random_case(seed, dtype=torch.float64)
    region_weight, boundary_weight = boundary_schedule(progress)
    term = monai_losses.BoundaryLoss(sigmoid=True, batch=batch)(logits, target)
    expected = region_weight * generalized_dice_loss(logits, target, batch=batch)
    expected = expected + boundary_weight * term
    loss = BoundaryLoss(batch=batch)
    loss.set_progress(progress)
    # MONAI stores its distance map in float32
    torch.testing.assert_close(loss(logits, target), expected, rtol=1e-7, atol=1e-9)
    per_case = create_loss("boundary", progress=progress, reduction="none")(logits, target)
    monai_per_case = monai_losses.BoundaryLoss(sigmoid=True, reduction="none")(logits, target)
    gdl_per_case = generalized_dice_loss(logits, target, reduction="none")
    torch.testing.assert_close(
        per_case,
        region_weight * gdl_per_case + boundary_weight * monai_per_case.reshape(-1),
        rtol=1e-7,
        atol=1e-9,
    )


def test_boundary_term_is_the_papers_mean_phi_p_negative_inside() -> None:
    # a 5^3 cube lesion in a 9^3 volume, predicted perfectly: the boundary term is
    # mean(phi y) = -(sum of depths below the surface) / 729: 26 voxels at depth 1, 1 at 2
    target = torch.zeros(1, 1, 9, 9, 9, dtype=torch.float64)
    target[0, 0, 2:7, 2:7, 2:7] = 1
    value = boundary_loss(perfect_logits(target), target, progress=1.0)
    assert value.item() == pytest.approx(-28 / 729, rel=1e-9)  # was +0.0 (shifted form)


def test_small_lesions_predicted_perfectly_cost_nothing() -> None:
    target = torch.zeros(1, 1, 6, 6, 6, dtype=torch.float64)
    target[0, 0, 1, 1, 1] = target[0, 0, 4, 4, 3] = target[0, 0, 4, 4, 4] = 1
    for progress in (0.0, 1.0):
        value = boundary_loss(perfect_logits(target), target, progress=progress)
        assert abs(value.item()) < 1e-12


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_targets_without_boundary_leave_the_weighted_gdl(fill: float) -> None:
    logits, _ = random_case(3)
    target = torch.full_like(logits, fill)
    x = logits.clone().requires_grad_(True)
    value = boundary_loss(x, target, progress=1.0)
    value.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    expected = 0.1 * generalized_dice_loss(logits, target)
    assert value.item() == pytest.approx(expected.item(), rel=1e-12)


def _ms_like_case() -> tuple[torch.Tensor, torch.Tensor]:
    """Two 48^3 patches with six small spherical lesions each (radius 0.5 to 3.5 voxels, about
    0.3 % of the voxels) and the noisy logits of a network that has learnt them roughly."""
    gen = torch.Generator().manual_seed(0)
    shape = (2, 1, 48, 48, 48)
    grid = torch.stack(torch.meshgrid(*[torch.arange(48.0)] * 3, indexing="ij"))
    target = torch.zeros(shape, dtype=torch.bool)
    for b in range(2):
        for _ in range(6):
            centre = torch.randint(6, 42, (3,), generator=gen).float().view(3, 1, 1, 1)
            radius = float(torch.rand(1, generator=gen)) * 3 + 0.5
            target[b, 0] |= ((grid - centre) ** 2).sum(0) <= radius**2
    y = target.double()
    logits = 3 * (2 * y - 1) + 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
    return logits, y


def test_at_the_end_of_a_250_step_trial_the_boundary_term_carries_the_loss() -> None:
    logits, target = _ms_like_case()
    loss = BoundaryLoss()
    for step in range(250):  # as the trainer does
        loss.set_progress(step / 250)
    assert boundary_schedule(loss.params["progress"]) == (0.1, 1.0)

    def value_and_grad(fn: Callable[[Tensor, Tensor], Tensor]) -> tuple[float, Tensor]:
        x = logits.clone().requires_grad_(True)
        value = fn(x, target)
        value.backward()
        assert x.grad is not None
        return value.item(), x.grad

    total, grad = value_and_grad(loss)
    region, region_grad = value_and_grad(lambda x, t: 0.1 * generalized_dice_loss(x, t))
    boundary, boundary_grad = total - region, grad - region_grad
    loss_share = abs(boundary) / (abs(boundary) + abs(region))
    grad_share = boundary_grad.norm() / (boundary_grad.norm() + region_grad.norm())
    # the fixed weights 1 (Dice) and 0.01 gave shares of 0.019 and 0.15: Dice plus noise
    assert loss_share > 0.5 and grad_share > 0.5, (loss_share, grad_share)


# --- the training-progress hook -------------------------------------------------------------------


class _Interrupted(Exception):
    pass


class _Recorder(torch.nn.Module):
    """A plugin-style loss that records the progress the trainer reports (and, to simulate an
    interrupted trial, raises when told a given fraction)."""

    calls: ClassVar[list[float]] = []
    stop_at: float | None = None

    def set_progress(self, fraction: float) -> None:
        if fraction == _Recorder.stop_at:
            _Recorder.stop_at = None
            raise _Interrupted
        _Recorder.calls.append(fraction)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((torch.sigmoid(logits[:, :1]) - target) ** 2).mean()


def _cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    label = np.zeros((20, 20, 20), np.uint8)
    label[8:12, 8:12, 8:12] = 1
    return [(rng.normal(size=(3, 20, 20, 20)).astype(np.float32), label)]


def test_trainer_reports_progress_before_each_step_and_after_a_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry._REGISTRY, "progress_recorder", _Recorder)
    monkeypatch.setattr(_Recorder, "calls", [])
    config = tiny(["progress_recorder"])  # 4 steps, a checkpoint every 2
    cpu = torch.device("cpu")
    train_trial(
        "progress_recorder", 0, _cases(), config, TrialLayout(tmp_path / "a"), cpu, progress=False
    )
    assert _Recorder.calls == [0.0, 0.25, 0.5, 0.75]  # was [] (no hook)
    # a trial interrupted before its third step resumes from its checkpoint at one half
    _Recorder.calls.clear()
    monkeypatch.setattr(_Recorder, "stop_at", 0.5)
    interrupted = TrialLayout(tmp_path / "b")
    with pytest.raises(_Interrupted):
        train_trial("progress_recorder", 0, _cases(), config, interrupted, cpu, progress=False)
    train_trial("progress_recorder", 0, _cases(), config, interrupted, cpu, progress=False)
    assert _Recorder.calls == [0.0, 0.25, 0.5, 0.75]


def test_trainer_drives_the_boundary_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Loss] = []

    def probe() -> torch.nn.Module:
        made.append(BoundaryLoss())
        return made[-1]

    monkeypatch.setitem(registry._REGISTRY, "boundary_probe", probe)
    config = tiny(["boundary_probe"])
    train_trial(
        "boundary_probe",
        0,
        _cases(),
        config,
        TrialLayout(tmp_path),
        torch.device("cpu"),
        progress=False,
    )
    assert made[0].params["progress"] == 0.75  # was 0.0: the last of 4 steps


def test_stateless_losses_ignore_progress() -> None:
    loss = DiceLoss()
    before = dict(loss.params)
    loss.set_progress(0.5)
    assert loss.params == before
    with pytest.raises(ValueError, match=r"DiceLoss: `fraction` must be in \[0, 1\], got 2"):
        loss.set_progress(2)
