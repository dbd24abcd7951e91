"""On a CUDA device: the distance transform is scipy's, the losses are those computed on the CPU,
and no loss makes the host wait for the device."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lossbench.losses import create_loss, lesion_input, list_losses
from lossbench.losses._core import Reduction
from lossbench.losses.boundary import distance_to_boundary, signed_distance
from lossbench.losses.distance import distance_transform, edt
from tests._helpers import random_case
from tests._helpers.edt import scipy_edt

pytestmark = pytest.mark.cuda

CUDA = torch.device("cuda")
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


@contextmanager
def _no_sync() -> Iterator[None]:
    """Raise on any operation that synchronises the host with the device."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


# --- the distance transform -----------------------------------------------------------------------


@SETTINGS
@given(
    data=st.data(),
    batch=st.integers(1, 3),
    spatial=st.lists(st.integers(1, 12), min_size=1, max_size=3).map(tuple),
)
def test_edt_equals_scipy_on_random_masks(data: st.DataObject, batch: int, spatial: tuple) -> None:
    masks = data.draw(arrays(np.bool_, (batch, *spatial)))
    result = edt(torch.from_numpy(masks).to(CUDA))
    assert result.device.type == "cuda" and result.dtype == torch.float64
    assert np.array_equal(result.cpu().numpy(), scipy_edt(masks))


@pytest.mark.parametrize(
    ("shape", "background"), [((4, 1, 80, 80, 80), 0.001), ((2, 30, 7, 50), 0.01)]
)
def test_edt_equals_scipy_on_training_sized_volumes(
    shape: tuple[int, ...], background: float
) -> None:
    masks = np.random.default_rng(0).random(shape) >= background
    expected = scipy_edt(masks)
    assert np.array_equal(
        distance_transform(torch.from_numpy(masks).to(CUDA)).cpu().numpy(), expected
    )
    small_steps = edt(torch.from_numpy(masks).to(CUDA), chunk_elements=1 << 12)
    assert np.array_equal(small_steps.cpu().numpy(), expected)


def test_boundary_maps_equal_those_of_the_cpu() -> None:
    _, target = random_case(0, shape=(3, 1, 16, 17, 18))
    masks = target[:, 0] > 0.5
    masks[1] = False  # a case without boundary
    for transform in (distance_to_boundary, signed_distance):
        on_cuda = transform(masks.to(CUDA))
        assert on_cuda.device.type == "cuda"
        assert torch.equal(on_cuda.cpu(), transform(masks))


# --- the losses -----------------------------------------------------------------------------------

RUNS: list[tuple[bool, Reduction]] = [(True, "mean"), (False, "none")]


@pytest.mark.parametrize("name", ["hausdorff_dt", "boundary"])
@pytest.mark.parametrize(("batch", "reduction"), RUNS)
@pytest.mark.parametrize("precomputed", [False, True], ids=["own_maps", "target_maps"])
def test_boundary_losses_on_cuda_equal_those_on_the_cpu(
    name: str, batch: bool, reduction: Reduction, precomputed: bool
) -> None:
    logits, target = random_case(1, shape=(2, 1, 24, 24, 24), dtype=torch.float32)
    loss = create_loss(name, batch=batch, reduction=reduction)
    loss.set_progress(0.5)  # type: ignore[operator]

    def value_and_grad(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        x = logits.to(device).requires_grad_(True)
        maps = loss.target_maps(target) if precomputed else None  # type: ignore[operator]
        kwargs = {"target_maps": {k: m.to(device) for k, m in maps.items()}} if maps else {}
        value = loss(x, target.to(device), **kwargs)
        value.sum().backward()
        assert x.grad is not None
        return value.cpu(), x.grad.cpu()

    value, grad = value_and_grad(CUDA)
    expected_value, expected_grad = value_and_grad(torch.device("cpu"))
    torch.testing.assert_close(value, expected_value, rtol=1e-5, atol=0)
    scale = expected_grad.abs().max().item()
    torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-6 * scale)


def test_lesion_input_does_not_synchronise() -> None:
    logits, target = random_case(2, shape=(2, 1, 8, 8, 8), dtype=torch.float32)
    logits, target = logits.to(CUDA), target.to(CUDA)
    with _no_sync():
        z, y = lesion_input(logits, target)
    assert z.device.type == y.device.type == "cuda"


def test_distance_maps_do_not_synchronise() -> None:
    masks = torch.from_numpy(np.random.default_rng(3).random((2, 20, 20, 20)) > 0.1).to(CUDA)
    for transform in (edt, distance_transform, distance_to_boundary, signed_distance):
        transform(masks)  # warm-up
        with _no_sync():
            transform(masks)


@pytest.mark.parametrize("name", list_losses())
@pytest.mark.parametrize("precomputed", [False, True], ids=["own_maps", "target_maps"])
def test_a_training_step_of_the_loss_does_not_synchronise(name: str, precomputed: bool) -> None:
    logits, target = random_case(4, shape=(2, 1, 16, 16, 16), dtype=torch.float32)
    loss = create_loss(name)
    maker = getattr(loss, "target_maps", None)
    maps = maker(target) if precomputed and callable(maker) else None
    kwargs = {"target_maps": {k: m.to(CUDA) for k, m in maps.items()}} if maps else {}
    x, y = logits.to(CUDA).requires_grad_(True), target.to(CUDA)
    loss(x, y, **kwargs).backward()  # warm-up: lazy initialisation of CUDA libraries
    x.grad = None
    with _no_sync():
        loss(x, y, **kwargs).backward()
    assert x.grad is not None
