"""The phantom: round trip, determinism, where the label lies, and the statistics of a set."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import ndimage

from lossbench.data import generate_case, load_case, load_dataset, synthesize
from lossbench.data.preprocess import zscore

SMALL = (40, 48, 40)


def test_round_trip_synth_load(tmp_path) -> None:
    folders = synthesize(tmp_path, 2, 5, SMALL, (0.9, 1.0, 1.1), lesion_free=None, phantom="blobs")
    seeds = np.random.SeedSequence(5).spawn(2)
    for folder, seq in zip(folders, seeds, strict=True):
        case = load_case(folder)
        expected = generate_case(
            int(seq.generate_state(1)[0]), SMALL, (0.9, 1.0, 1.1), phantom="blobs"
        )
        for name in ("baseline", "followup", "label", "brain_mask"):
            np.testing.assert_array_equal(getattr(case, name), getattr(expected, name))
        assert case.spacing == pytest.approx((0.9, 1.0, 1.1))
        np.testing.assert_allclose(case.affine, expected.affine)


def test_same_seed_same_voxels_other_seed_other_voxels(tmp_path) -> None:
    a, b, c = (
        generate_case(11, SMALL, phantom="blobs"),
        generate_case(11, SMALL, phantom="blobs"),
        generate_case(12, SMALL, phantom="blobs"),
    )
    for name in ("baseline", "followup", "label"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.baseline, c.baseline)
    one = load_dataset(
        synthesize(tmp_path / "one", 2, seed=3, shape=SMALL, phantom="blobs")[0].parent
    )
    two = load_dataset(
        synthesize(tmp_path / "two", 2, seed=3, shape=SMALL, phantom="blobs")[0].parent
    )
    for x, y in zip(one, two, strict=True):
        assert x.followup.tobytes() == y.followup.tobytes()


def test_interrupted_synth_resumes(tmp_path) -> None:
    synthesize(tmp_path, 3, seed=1, shape=SMALL, phantom="blobs")
    first = load_case(tmp_path / "case_001").followup
    (tmp_path / "case_001" / "ground_truth.nii.gz").unlink()  # as if stopped mid-case
    synthesize(tmp_path, 3, seed=1, shape=SMALL, phantom="blobs")
    assert np.array_equal(load_case(tmp_path / "case_001").followup, first)


@pytest.mark.parametrize("seed", range(6))
def test_label_marks_new_signal_in_the_brain(seed: int) -> None:
    case = generate_case(seed, SMALL, phantom="blobs")
    label = case.label.astype(bool)
    if not label.any():
        return
    brain = case.brain_mask.astype(bool)
    assert (label & ~brain).sum() == 0
    change = zscore(case.followup, brain) - zscore(case.baseline, brain)
    # every labelled lesion is brighter at follow-up than the brain's typical change
    labels, n = ndimage.label(label)
    spread = np.std(change[brain & ~label])
    for i in range(1, n + 1):
        assert change[labels == i].mean() > 1.0 * spread
    assert len(case.new_lesion_centres) == n or n <= len(case.new_lesion_centres)


def test_statistics_of_a_generated_set() -> None:
    n_cases = 40
    spacing = (1.0, 1.0, 1.0)
    counts, volumes, fractions = [], [], []
    for seed in range(n_cases):
        case = generate_case(1000 + seed, SMALL, spacing, phantom="blobs")
        labels, n = ndimage.label(case.label, structure=ndimage.generate_binary_structure(3, 1))
        counts.append(n)
        volumes += (np.bincount(labels.ravel())[1:] * math.prod(spacing)).tolist()
        fractions.append(case.label.mean())
    empty = np.mean(np.array(counts) == 0)
    assert 0.08 <= empty <= 0.45, empty  # about a quarter have no new lesion
    assert min(volumes) > 3.0  # no labelled lesion falls below MSSEG-2's 3 mm^3 limit
    assert max(volumes) < 1000.0 and np.median(volumes) < 120.0
    # new lesions are rare: well under 1% of the voxels of the set (even at this small shape)
    assert np.mean(fractions) < 0.004, np.mean(fractions)


@pytest.mark.parametrize(("cases", "share", "expected"), [(8, 0.25, 2), (7, 0.25, 2), (4, 0.0, 0)])
def test_a_set_holds_its_share_of_lesion_free_cases(tmp_path, cases, share, expected) -> None:
    folders = synthesize(tmp_path, cases, 4, (24, 24, 24), lesion_free=share, phantom="blobs")
    empty = [not load_case(f).label.any() for f in folders]
    assert sum(empty) == expected  # rounded up: 7 x 0.25 = 1.75 -> 2
    # which ones is seeded: the same call elsewhere picks the same cases
    again = synthesize(
        tmp_path / "again", cases, 4, (24, 24, 24), lesion_free=share, phantom="blobs"
    )
    assert [not load_case(f).label.any() for f in again] == empty


def test_new_lesions_can_be_forced_on_or_off() -> None:
    for seed in range(8):
        assert not generate_case(seed, (24, 24, 24), new_lesions=False, phantom="blobs").label.any()
        assert generate_case(seed, (24, 24, 24), new_lesions=True, phantom="blobs").label.any()


def test_bad_generation_arguments() -> None:
    with pytest.raises(ValueError, match="at least 24"):
        generate_case(0, (10, 40, 40), phantom="blobs")
    with pytest.raises(ValueError, match="`spacing` must be 3 positive"):
        generate_case(0, SMALL, (1.0, 0.0, 1.0), phantom="blobs")
    with pytest.raises(ValueError, match="`lesion_free` must be in"):
        synthesize("unused", 2, lesion_free=1.5, phantom="blobs")


def test_a_folder_never_mixes_phantoms_or_takes_in_other_cases(tmp_path) -> None:
    synthesize(tmp_path / "set", 2, seed=1, shape=(24, 24, 24), phantom="blobs")
    synthesize(
        tmp_path / "set", 2, seed=1, shape=(24, 24, 24), phantom="blobs"
    )  # the same arguments: resumed
    for changed, words in (
        ({"seed": 2}, "seed 1 there, 2 here"),
        ({"shape": (24, 28, 24)}, "shape [24, 24, 24] there, [24, 28, 24]"),
        ({"cases": 3}, "cases 2 there, 3 here"),
    ):
        arguments = {"cases": 2, "seed": 1, "shape": (24, 24, 24), **changed}
        with pytest.raises(ValueError, match=re.escape(f"of other arguments ({words}")):
            synthesize(tmp_path / "set", **arguments, phantom="blobs")  # type: ignore[arg-type]
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == [
        "case_000",
        "case_001",
        "phantom.json",
    ]
    (tmp_path / "other" / "p01").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"other holds p01/ and no lossbench phantom"):
        synthesize(tmp_path / "other", 2, seed=1, shape=(24, 24, 24), phantom="blobs")
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["p01"]
