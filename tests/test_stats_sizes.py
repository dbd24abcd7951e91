"""Detection by lesion size: hand-made lesions land in the bins their volumes say, recall is the
pooled ratio over cases (seeds averaged first), and the paired bootstrap names a loss that finds
fewer small lesions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lossbench.metrics import evaluate_case_lesions
from lossbench.stats.sizes import bin_labels, check_edges, detection_by_size, volume_bins

EDGES = (3, 10, 30, 100, 300)


def _lesion_mask(sizes: list[int], shape: tuple[int, int, int] = (12, 40, 40)) -> np.ndarray:
    """Cubes and bars of the given voxel counts, each in its own row of the volume."""
    mask = np.zeros(shape, bool)
    for k, n in enumerate(sizes):
        flat = np.zeros(shape[1] * shape[2], bool)
        flat[:n] = True
        block = flat.reshape(shape[1], shape[2])
        mask[2 * k] = block  # a lesion per even slice: never touching
    return mask


def test_hand_made_lesions_land_in_the_bins_of_their_volumes() -> None:
    sizes = [2, 3, 4, 10, 11, 30, 31, 100, 300, 301, 1200]
    spacing = (0.5, 1.0, 2.0)  # 1 mm^3 voxels, but not cubes
    mask = _lesion_mask(sizes[:6])
    more = _lesion_mask(sizes[6:])
    for masks in (mask, more):
        _, rows = evaluate_case_lesions(masks, masks, spacing, min_lesion_mm3=0)
        volumes = sorted(r["volume_mm3"] for r in rows if r["side"] == "ref")
        assert volumes == sorted(float(n) for n in (sizes[:6] if masks is mask else sizes[6:]))
    got = dict(zip(sizes, volume_bins(sizes, EDGES).tolist(), strict=True))
    # (3, 10] is the first bin: MSSEG-2 drops 3 mm^3 or less; 10 belongs to 3-10, 11 to 10-30
    assert got == {2: -1, 3: -1, 4: 0, 10: 0, 11: 1, 30: 1, 31: 2, 100: 2, 300: 3, 301: 4, 1200: 4}
    assert bin_labels(EDGES) == ["3-10", "10-30", "30-100", "100-300", ">300"]


def _rows(method: str, seed: int, case: str, refs: list[tuple[float, bool]], fps: list[float]):
    rows = [(method, seed, case, "ref", v, hit) for v, hit in refs]
    rows += [(method, seed, case, "pred", v, False) for v in fps]
    return rows


def _frames(rows: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    columns = ["method", "seed", "case_id", "side", "volume_mm3", "detected"]
    lesions = pd.DataFrame(rows, columns=columns)
    return lesions, lesions[["method", "seed", "case_id"]].drop_duplicates()


def test_recall_is_pooled_over_cases_after_averaging_the_seeds() -> None:
    rows = _rows("a", 0, "c1", [(5, True), (6, True), (50, False)], [7.0])
    rows += _rows("a", 1, "c1", [(5, False), (6, True), (50, True)], [])
    rows += _rows("a", 0, "c2", [(8, False)], [400.0])
    rows += _rows("a", 1, "c2", [(8, False)], [])
    lesions, results = _frames(rows)
    table = detection_by_size(lesions, results, EDGES, n_resamples=200)
    small, mid = table.loc[("a", "3-10")], table.loc[("a", "30-100")]
    # 3-10: case c1 finds 2 then 1 of its 2 (mean 1.5), c2 0 of 1: 1.5 / 3
    assert small["recall"] == pytest.approx(0.5) and small["ref_lesions"] == 3
    assert mid["recall"] == pytest.approx(0.5) and mid["ref_lesions"] == 1
    # false positives per case: 3-10 holds one in one seed of c1: 0.5 per case-mean over 2 cases
    assert small["fp_per_case"] == pytest.approx(0.25)
    assert table.loc[("a", ">300"), "fp_per_case"] == pytest.approx(0.25)
    assert np.isnan(table.loc[("a", "100-300"), "recall"])
    assert small["recall_low"] <= small["recall"] <= small["recall_high"]


def test_the_loss_that_finds_fewer_small_lesions_is_behind_the_best() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for k in range(30):
        case = f"c{k}"
        hits = rng.random(3) < 0.8
        rows += _rows("good", 0, case, [(5.0, bool(h)) for h in hits] + [(200.0, True)], [])
        rows += _rows("twin", 0, case, [(5.0, bool(h)) for h in hits] + [(200.0, True)], [])
        rows += _rows("poor", 0, case, [(5, bool(h and k % 3 == 0)) for h in hits], [])
        rows += _rows("poor", 0, case, [(200, True)], [])
    lesions, results = _frames(rows)
    table = detection_by_size(lesions, results, EDGES, n_resamples=2000)
    small = table.xs("3-10", level="bin")
    assert small["behind_best"].to_dict() == {"good": False, "poor": True, "twin": False}
    assert not table.xs(">300", level="bin")["behind_best"].any()  # 100-300: all equal
    again = detection_by_size(lesions, results, EDGES, n_resamples=2000)
    pd.testing.assert_frame_equal(table, again)  # seeded: the same numbers


def test_a_case_without_any_lesion_still_counts_for_false_positives() -> None:
    lesions, _ = _frames(_rows("a", 0, "c1", [(5, True)], [5.0, 5.0]))
    results = pd.DataFrame({"method": "a", "seed": 0, "case_id": ["c1", "c2", "c3", "c4"]})
    table = detection_by_size(lesions, results, EDGES, n_resamples=100)
    assert table.loc[("a", "3-10"), "fp_per_case"] == pytest.approx(0.5)  # 2 over 4 cases


@pytest.mark.parametrize("edges", [[], [10, 3], [-1, 3], [3, float("inf")]])
def test_bad_edges_are_refused(edges: list[float]) -> None:
    with pytest.raises(ValueError, match="size bins must be increasing"):
        check_edges(edges)
