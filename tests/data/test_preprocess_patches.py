"""Preprocessing keeps labels aligned; the patch sampler finds lesions and is deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from lossbench.data import Case, generate_case
from lossbench.data.patches import augment, rotate_axial, sample_batch, sample_patch
from lossbench.data.preprocess import prepare_case, resample, to_native


def _case(seed: int, spacing=(1.0, 1.0, 1.0)) -> tuple[Case, list]:
    c = generate_case(seed, (48, 56, 48), spacing, phantom="blobs")
    case = Case(c.case_id, c.baseline, c.followup, c.label, c.brain_mask, c.spacing, c.affine)
    return case, c.new_lesion_centres


def _lesion_seed() -> int:
    return next(
        s for s in range(50) if generate_case(s, (48, 56, 48), phantom="blobs").label.sum() > 60
    )


@pytest.mark.parametrize(("target", "order"), [((0.5, 0.75, 0.75), 1), ((2.0, 1.5, 1.0), 3)])
def test_resampling_keeps_lesions_at_their_centres(target, order: int) -> None:
    case, centres = _case(_lesion_seed(), spacing=(1.0, 1.0, 1.0))
    prepared = prepare_case(case, target_spacing=target, margin=3, image_order=order)
    labels, n = ndimage.label(prepared.label)
    found = ndimage.center_of_mass(prepared.label, labels, range(1, n + 1))
    offset = np.array([b.start for b in prepared.box])
    for centre in centres:  # each known centre (mm) lands inside a labelled lesion
        expected = np.asarray(centre) * 1.0 / np.asarray(target) - offset
        nearest = min(np.linalg.norm((np.asarray(f) - expected) * target) for f in found)
        assert nearest < 2.0  # mm; the misregistration and partial volume move it slightly


def test_prepare_case_shapes_and_normalisation() -> None:
    case, _ = _case(3)
    p = prepare_case(case)
    assert p.image.shape == (3, *p.label.shape) and p.image.dtype == np.float32
    for channel in (0, 1):
        values = p.image[channel][p.brain_mask]
        assert abs(values.mean()) < 1e-4 and abs(values.std() - 1) < 1e-3
    np.testing.assert_allclose(p.image[2], p.image[1] - p.image[0], atol=1e-6)
    without_mask = prepare_case(Case(**{**case.__dict__, "brain_mask": None}))
    overlap = (without_mask.brain_mask.sum()) / p.brain_mask.sum()
    assert 0.8 < overlap < 1.3  # the threshold mask finds roughly the phantom's brain


def test_resample_orders() -> None:
    label = np.zeros((4, 4, 4), np.uint8)
    label[1, 1, 1] = 1
    up = resample(label, (1, 1, 1), (0.5, 0.5, 0.5), order=0)
    assert up.dtype == np.uint8 and up.shape == (8, 8, 8) and set(np.unique(up)) == {0, 1}
    with pytest.raises(ValueError, match="`order` must be 0, 1 or 3"):
        resample(label, (1, 1, 1), (2, 2, 2), order=2)


@pytest.mark.parametrize("target", [(0.5, 0.75, 0.75), (1.0, 1.0, 1.0), (0.9, 0.6, 1.0)])
def test_to_native_inverts_an_upsampling_exactly(target) -> None:
    # native voxel i sits at i * s / t on the finer grid, within half a fine voxel (less than
    # half a native one) of a fine voxel whose nearest native voxel is i: the round trip is exact
    case, _ = _case(_lesion_seed())
    p = prepare_case(case, target_spacing=target, margin=3)
    back = to_native(p.label, p, order=0)
    assert back.shape == case.label.shape and back.dtype == np.uint8
    np.testing.assert_array_equal(back, case.label)
    np.testing.assert_array_equal(p.native_label, case.label.astype(bool))
    assert p.native_spacing == case.spacing and (p.affine == case.affine).all()


def test_to_native_after_downsampling_keeps_the_lesion_volume_roughly() -> None:
    case, _ = _case(_lesion_seed())
    p = prepare_case(case, target_spacing=(1.5, 1.5, 1.5), margin=3)
    prob = to_native(p.label.astype(np.float32), p)  # linear, then thresholded as in run.py
    assert prob.dtype == np.float32 and prob.shape == case.label.shape
    assert 0.0 <= prob.min() and prob.max() <= 1.0
    dice = 2 * ((prob > 0.5) & (case.label > 0)).sum() / ((prob > 0.5).sum() + case.label.sum())
    assert dice > 0.8  # 0.89 measured: the partial-volume loss of a 1.5 mm grid


def test_to_native_rejects_a_volume_of_another_shape() -> None:
    case, _ = _case(3)
    p = prepare_case(case, target_spacing=(2.0, 2.0, 2.0))
    with pytest.raises(ValueError, match=r"case_3: volume of shape \(2, 2, 2\) does not match"):
        to_native(np.zeros((2, 2, 2)), p)


def test_resample_to_an_explicit_shape() -> None:
    volume = np.arange(24.0).reshape(2, 3, 4)
    assert resample(volume, (1, 1, 1), (1, 1, 1), shape=(2, 3, 5)).shape == (2, 3, 5)
    with pytest.raises(ValueError, match="`shape` must be 3 positive sizes"):
        resample(volume, (1, 1, 1), (2, 2, 2), shape=(0, 1, 1))


def test_patches_from_lesion_cases_contain_lesion() -> None:
    case, _ = _case(_lesion_seed())
    p = prepare_case(case)
    rng = np.random.default_rng(0)
    hits = [
        sample_patch(p.image, p.label, (24, 24, 24), rng, max_shift=10)[1].any() for _ in range(50)
    ]
    assert all(hits)  # the centre is within 10 voxels of a lesion voxel, half the patch is 12
    empty = np.zeros_like(p.label)
    patch, label = sample_patch(p.image, empty, (24, 24, 24), rng)
    assert patch.shape == (3, 24, 24, 24) and not label.any()


def test_small_volumes_are_padded() -> None:
    image, label = np.ones((3, 5, 6, 7), np.float32), np.zeros((5, 6, 7), np.uint8)
    patch, target = sample_patch(image, label, (8, 8, 8), np.random.default_rng(1))
    assert patch.shape == (3, 8, 8, 8) and patch.sum() == 3 * 5 * 6 * 7
    assert target.shape == (8, 8, 8) and not target.any()


def test_batches_are_deterministic() -> None:
    case, _ = _case(_lesion_seed())
    p = prepare_case(case)
    cases = [(p.image, p.label), (p.image, np.zeros_like(p.label))]
    a = sample_batch(cases, 4, (16, 16, 16), np.random.default_rng(7))
    b = sample_batch(cases, 4, (16, 16, 16), np.random.default_rng(7))
    c = sample_batch(cases, 4, (16, 16, 16), np.random.default_rng(8))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_augment_moves_image_and_label_together() -> None:
    rng = np.random.default_rng(3)
    label = (rng.random((12, 12, 6)) > 0.7).astype(np.uint8)
    image = np.stack([label.astype(np.float32)] * 2)
    for _ in range(8):  # rotations by multiples of 90 degrees and flips only: exact
        img, lab = augment(image, label, rng, max_angle_deg=0.0)
        assert np.array_equal(img[0] > 0.5, lab.astype(bool))
    img, lab = augment(image, label, np.random.default_rng(4), max_angle_deg=10.0)
    agree = np.mean((img[0] > 0.5) == lab.astype(bool))
    assert agree > 0.9 and img.shape == image.shape and lab.shape == label.shape


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(2, 20),
    degrees=st.floats(-30, 30).filter(lambda d: abs(d) > 1e-3),
    seed=st.integers(0, 2**16),
)
def test_rotate_axial_matches_scipy_rotate(size: int, degrees: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(2, size, size, 3)).astype(np.float32)
    label = (rng.random((size, size, 3)) > 0.6).astype(np.float32)
    rotated, rotated_label = rotate_axial(image, label, degrees)
    expected = ndimage.rotate(image, degrees, axes=(1, 2), reshape=False, order=1, mode="nearest")
    np.testing.assert_allclose(rotated, expected, atol=1e-5)
    # the label takes the nearest voxel: it keeps every voxel that scipy's nearest-neighbour
    # rotation keeps inside the plane, and adds none that it would not give by clamping; where
    # a sample lies halfway between two voxels (30 degrees gives such ties) the nearest voxel
    # is a matter of rounding, so those are left out
    inside = ndimage.rotate(label, degrees, axes=(0, 1), reshape=False, order=0, mode="constant")
    clamped = ndimage.rotate(label, degrees, axes=(0, 1), reshape=False, order=0, mode="nearest")
    assert rotated_label.shape == label.shape and rotated_label.dtype == label.dtype
    clear = ~_halfway(size, degrees)[:, :, None]
    assert np.all((rotated_label >= inside)[clear.repeat(3, axis=2)])
    assert np.all((rotated_label <= clamped)[clear.repeat(3, axis=2)])


def _halfway(size: int, degrees: float) -> np.ndarray:
    """Where a (size, size) plane rotated by ``degrees`` samples within 1e-6 of halfway between
    two voxels along either axis."""
    t = np.deg2rad(degrees)
    o = np.arange(size) - (size - 1) / 2
    ox, oy = np.meshgrid(o, o, indexing="ij")
    samples = (np.cos(t) * ox + np.sin(t) * oy, -np.sin(t) * ox + np.cos(t) * oy)
    return np.any([np.abs((v + (size - 1) / 2) % 1 - 0.5) < 1e-6 for v in samples], axis=0)
