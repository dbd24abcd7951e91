"""Cross-checks: MedPy (distances), DeepMind's surface-distance (nsd), and a plain transcription
of the MSSEG-2 detection rule (lesions), on random anisotropic cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from lossbench.metrics import evaluate_case, lesion_detection, nsd
from tests._helpers.lesion_rule import detection

medpy = pytest.importorskip("medpy.metric.binary")


def random_masks(seed: int, shape=(24, 28, 20), blobs: int = 4):
    """Random lesion-like masks: blobs of random size, the prediction a dilated, eroded or
    shifted copy with some blobs dropped or added."""
    rng = np.random.default_rng(seed)

    def blobs_mask(n: int) -> np.ndarray:
        seeds = np.zeros(shape, bool)
        for _ in range(n):
            seeds[tuple(rng.integers(2, s - 2) for s in shape)] = True
        return ndimage.binary_dilation(seeds, iterations=int(rng.integers(1, 3)))

    ref = blobs_mask(blobs)
    pred = ref.copy()
    op = rng.integers(3)
    if op == 0:
        pred = ndimage.binary_dilation(pred)
    elif op == 1:
        pred = np.roll(pred, int(rng.integers(-2, 3)), axis=int(rng.integers(3)))
    else:
        pred = ndimage.binary_erosion(pred) | (rng.random(shape) < 0.002)
    pred |= blobs_mask(int(rng.integers(0, 2)))
    spacing = tuple(float(s) for s in rng.uniform(0.4, 1.6, size=3))
    return pred, ref, spacing


@pytest.mark.parametrize("seed", range(12))
def test_distances_equal_medpy(seed: int) -> None:
    pred, ref, spacing = random_masks(seed)
    result = evaluate_case(pred, ref, spacing)
    for key in ("hd", "hd95", "asd", "assd"):
        expected = getattr(medpy, key)(pred, ref, voxelspacing=spacing)
        assert result[key] == pytest.approx(expected, abs=1e-6, rel=1e-9), key
    assert result["dice"] == pytest.approx(medpy.dc(pred, ref), abs=1e-12)
    assert result["jaccard"] == pytest.approx(medpy.jc(pred, ref), abs=1e-12)
    assert result["precision"] == pytest.approx(medpy.precision(pred, ref), abs=1e-12)
    assert result["recall"] == pytest.approx(medpy.recall(pred, ref), abs=1e-12)


def test_distances_equal_medpy_at_the_array_edge() -> None:
    # masks touching the array edge: the edge counts as outside in both implementations
    pred, ref = np.zeros((6, 7, 8), bool), np.zeros((6, 7, 8), bool)
    pred[0:3, 0:7, 5:8] = True
    ref[0:2, 2:7, 3:8] = True
    result = evaluate_case(pred, ref, (0.7, 1.1, 0.9))
    for key in ("hd", "hd95", "asd", "assd"):
        expected = getattr(medpy, key)(pred, ref, voxelspacing=(0.7, 1.1, 0.9))
        assert result[key] == pytest.approx(expected, abs=1e-6), key


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("tolerance", [0.5, 1.0, 2.0])
def test_nsd_equals_surface_distance(seed: int, tolerance: float) -> None:
    surface_distance = pytest.importorskip("surface_distance")
    pred, ref, spacing = random_masks(seed)
    with pytest.warns(DeprecationWarning):  # the package's own scipy imports
        distances = surface_distance.compute_surface_distances(ref, pred, spacing)
    expected = surface_distance.compute_surface_dice_at_tolerance(distances, tolerance)
    assert nsd(pred, ref, spacing, tolerance_mm=tolerance) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("connectivity", [6, 26])
def test_lesion_rule_equals_plain_transcription(seed: int, connectivity: int) -> None:
    pred, ref, spacing = random_masks(seed, shape=(14, 16, 12), blobs=5)
    result = lesion_detection(pred, ref, spacing, connectivity=connectivity)
    expected = detection(pred, ref, spacing, connectivity=connectivity)
    got = {k: getattr(result, k) for k in expected}
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(6))
def test_lesion_rule_thresholds_equal_plain_transcription(seed: int) -> None:
    pred, ref, spacing = random_masks(100 + seed, shape=(14, 16, 12), blobs=6)
    got = lesion_detection(pred, ref, spacing, alpha=0.3, beta=0.4, gamma=0.9, min_lesion_mm3=1.0)
    expected = detection(pred, ref, spacing, alpha=0.3, beta=0.4, gamma=0.9, min_lesion_mm3=1.0)
    assert {k: getattr(got, k) for k in expected} == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(4))
def test_evaluate_case_nsd_equals_nsd_on_the_full_volume(seed: int) -> None:
    # evaluate_case computes nsd from the voxel lists and borders it shares with the other
    # metrics (in the union's box plus one voxel); surface Dice must not change
    pred, ref, spacing = random_masks(seed)
    assert evaluate_case(pred, ref, spacing)["nsd"] == pytest.approx(
        nsd(pred, ref, spacing), abs=1e-12
    )
