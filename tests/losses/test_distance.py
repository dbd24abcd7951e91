"""The torch Euclidean distance transform is scipy's, value for value, and the boundary maps built
on it keep their meaning on any device."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from lossbench.losses.boundary import distance_to_boundary, signed_distance
from lossbench.losses.distance import distance_transform, edt
from tests._helpers.edt import scipy_edt

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)
R2, R5, R8 = math.sqrt(2), math.sqrt(5), math.sqrt(8)


# --- hand-computed cases --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        ([[True, True, False, True]], [[2, 1, 0, 1]]),
        ([[False, True, True, True, True, False]], [[0, 1, 2, 2, 1, 0]]),
        ([[True, True]], [[math.inf, math.inf]]),  # no False voxel
        ([[False, False]], [[0, 0]]),
        (
            [[[False, True, True], [True, True, True], [True, True, True]]],
            [[[0, 1, 2], [1, R2, R5], [2, R5, R8]]],  # sqrt(i^2 + j^2) from the corner
        ),
        (
            [[[True, True, True]], [[True, False, True]]],  # cases are independent
            [[[math.inf] * 3], [[1, 0, 1]]],
        ),
    ],
)
def test_hand_computed(mask: list, expected: list) -> None:
    result = edt(torch.tensor(mask))
    assert result.dtype == torch.float64
    assert torch.equal(result, torch.tensor(expected, dtype=torch.float64))
    assert torch.equal(distance_transform(torch.tensor(mask)), result)


def test_three_dimensional_corner() -> None:
    mask = torch.ones(1, 2, 3, 4, dtype=torch.bool)
    mask[0, 0, 0, 0] = False
    grid = torch.stack(torch.meshgrid(*(torch.arange(n) for n in (2, 3, 4)), indexing="ij"))
    # numpy's square root is correctly rounded; torch's CPU kernel may miss by one ulp
    expected = torch.from_numpy(np.sqrt(grid.square().sum(0).double().numpy()))[None]
    assert torch.equal(edt(mask), expected)


def test_distances_past_the_float32_integers() -> None:
    # one False voxel at the end of a long line: squared distances up to 5000^2 > 2^24
    mask = torch.ones(1, 5001, dtype=torch.bool)
    mask[0, -1] = False
    assert torch.equal(edt(mask), torch.arange(5000, -1, -1, dtype=torch.float64)[None])


# --- scipy as the oracle --------------------------------------------------------------------------

SHAPES = st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple)


@SETTINGS
@given(data=st.data(), batch=st.integers(1, 3), spatial=SHAPES)
def test_equals_scipy_on_random_masks(data: st.DataObject, batch: int, spatial: tuple) -> None:
    masks = data.draw(arrays(np.bool_, (batch, *spatial)))
    chunk = data.draw(st.sampled_from([1, 50, 1 << 24]))  # one line per step, a few, all
    result = edt(torch.from_numpy(masks), chunk_elements=chunk).numpy()
    assert np.array_equal(result, scipy_edt(masks))


@SETTINGS
@given(data=st.data(), spatial=st.lists(st.integers(1, 24), min_size=1, max_size=3).map(tuple))
def test_equals_scipy_with_a_few_false_voxels(data: st.DataObject, spatial: tuple) -> None:
    """Long distances: each case is True but for one to three voxels (or none)."""
    masks = np.ones((2, *spatial), dtype=bool)
    for case in masks:
        for _ in range(data.draw(st.integers(0, 3))):
            case[tuple(data.draw(st.integers(0, n - 1)) for n in spatial)] = False
    assert np.array_equal(edt(torch.from_numpy(masks)).numpy(), scipy_edt(masks))


@pytest.mark.parametrize(
    ("shape", "background"),
    [
        ((2, 20, 17, 9), 0.01),  # sparse background: long distances
        ((1, 3, 40, 5), 0.05),  # anisotropic
        ((3, 64), 0.02),
        ((2, 1, 30, 1), 0.1),  # singleton axes
        ((1, 6, 7, 5, 4), 0.03),  # four spatial axes
    ],
)
def test_equals_scipy_on_seeded_volumes(shape: tuple[int, ...], background: float) -> None:
    rng = np.random.default_rng(sum(shape))
    masks = rng.random(shape) >= background
    expected = scipy_edt(masks)
    assert np.array_equal(edt(torch.from_numpy(masks)).numpy(), expected)
    assert np.array_equal(distance_transform(torch.from_numpy(masks)).numpy(), expected)


def test_a_singleton_channel_changes_nothing() -> None:
    masks = torch.from_numpy(np.random.default_rng(0).random((2, 9, 8, 7)) > 0.1)
    for transform in (edt, distance_transform):
        assert torch.equal(transform(masks[:, None])[:, 0], transform(masks))


def test_empty_shapes() -> None:
    for shape in [(0, 4, 4), (2, 0, 3)]:
        masks = torch.ones(shape, dtype=torch.bool)
        assert edt(masks).shape == distance_transform(masks).shape == shape


@pytest.mark.parametrize(
    ("masks", "error", "match"),
    [
        (
            torch.zeros(2, 3),
            TypeError,
            r"`masks` must be a boolean tensor, got dtype torch.float32",
        ),
        (np.zeros((2, 3), bool), TypeError, r"`masks` must be a boolean tensor, got ndarray"),
        (torch.zeros(3, dtype=torch.bool), ValueError, r"\(B, \*spatial\), got \(3,\)"),
        (
            torch.zeros(1, 32769, dtype=torch.bool),
            ValueError,
            r"squared diagonal .* 2\^30 .* got spatial shape \(32769,\)",
        ),
    ],
)
def test_bad_masks(masks: object, error: type, match: str) -> None:
    for transform in (edt, distance_transform):
        with pytest.raises(error, match=match):
            transform(masks)  # type: ignore[arg-type]


# --- the boundary maps ----------------------------------------------------------------------------


def _classes_cases() -> torch.Tensor:
    """Four cases: lesion and background, all background, all lesion, one background voxel."""
    masks = torch.zeros(4, 5, 6, dtype=torch.bool)
    masks[0, 1:3, 2:5] = True
    masks[2] = True
    masks[3] = True
    masks[3, 4, 5] = False
    return masks


def test_maps_are_zero_for_a_case_without_both_classes() -> None:
    masks = _classes_cases()
    for transform in (distance_to_boundary, signed_distance):
        maps = transform(masks)
        assert maps.dtype == torch.float64 and maps.shape == masks.shape
        assert torch.isfinite(maps).all()
        assert not maps[1].any() and not maps[2].any()
        assert maps[0].any() and maps[3].any()


def test_maps_fromscipy_edt() -> None:
    masks = _classes_cases()
    m = masks.numpy()
    inside = np.stack([ndimage.distance_transform_edt(c) for c in m])
    outside = np.stack([ndimage.distance_transform_edt(~c) for c in m])
    both = np.array([c.any() and not c.all() for c in m])[:, None, None]
    assert np.array_equal(distance_to_boundary(masks).numpy(), (inside + outside) * both)
    assert np.array_equal(signed_distance(masks).numpy(), (outside - inside + m) * both)
