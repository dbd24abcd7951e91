"""The anatomy phantom: determinism, where lesions lie, what is labelled, the warp, and the
statistics of a large set against MSSEG-2's."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage, special

from lossbench.config.phantom import (
    DETECTION_LIMIT_MM3,
    MSSEG2_COUNTS,
    MSSEG2_LESION_FREE,
    PhantomSettings,
)
from lossbench.data import generate_case, load_dataset, synthesize
from lossbench.data.anatomy import TISSUE_CLASSES, draw_warp, jacobian_determinant
from lossbench.data.lesion_model import new_lesion_count
from lossbench.metrics.lesions import label_lesions

SHAPE = (64, 80, 64)
WHITE_MATTER = (TISSUE_CLASSES["wm"], TISSUE_CLASSES["infratentorial_wm"])


def _digest(seeds: range) -> str:
    digest = hashlib.sha256()
    for seed in seeds:
        case = generate_case(seed, (40, 48, 40), new_lesions=True)
        for array in (case.baseline, case.followup, case.label, case.brain_mask, case.tissue):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def test_same_seed_same_voxels_in_this_process_and_another() -> None:
    here = _digest(range(3))
    assert _digest(range(3)) == here
    code = "from tests.data.test_anatomy import _digest; print(_digest(range(3)))"
    root = Path(__file__).parents[2]
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    ).stdout.strip()
    assert there == here
    assert _digest(range(1, 4)) != here


def test_cases_differ_in_anatomy_not_only_in_lesions() -> None:
    a, b = (generate_case(seed, SHAPE, new_lesions=False) for seed in (0, 1))
    assert a.tissue is not None and b.tissue is not None
    disagree = np.mean(a.tissue != b.tissue)
    assert disagree > 0.1, disagree  # warped: a tenth of the voxels change tissue class


@pytest.mark.parametrize("seed", range(4))
def test_lesions_lie_in_white_matter_and_the_label_is_the_new_lesions(seed: int) -> None:
    case = generate_case(seed, SHAPE, new_lesions=True)
    label = case.label > 0
    assert case.tissue is not None
    assert np.isin(case.tissue[label], WHITE_MATTER).all()
    labels, count = label_lesions(label, case.spacing, min_lesion_mm3=DETECTION_LIMIT_MM3)
    assert count == len(case.new_lesion_centres) >= 1
    assert np.array_equal(labels > 0, label)  # nothing below the limit, nothing unlabelled
    for centre in case.new_lesion_centres:
        assert labels[tuple(round(c) for c in centre)] > 0


@pytest.mark.parametrize("seed", range(3))
def test_pre_existing_lesions_appear_at_both_time_points_unlabelled(seed: int) -> None:
    case = generate_case(seed, SHAPE, new_lesions=False)
    assert case.old_lesion_centres and not case.label.any()
    assert case.tissue is not None
    wm = case.tissue == TISSUE_CLASSES["wm"]
    for image in (case.baseline, case.followup):
        smooth = ndimage.uniform_filter(image, 3)
        level = np.median(image[wm])
        bright = [smooth[tuple(round(c) for c in centre)] for centre in case.old_lesion_centres]
        assert np.median(bright) > 1.15 * level


def test_lesion_free_cases_have_an_empty_label_but_other_cases_new_signal() -> None:
    case = generate_case(5, SHAPE, new_lesions=True)
    change = case.followup.astype(float) - case.baseline
    label = case.label > 0
    brain = case.brain_mask > 0
    assert change[label].mean() > change[brain & ~label].mean() + 3 * change[brain & ~label].std()
    assert not generate_case(5, SHAPE, new_lesions=False).label.any()


EXTREME = PhantomSettings(scale=0.2, rotation_deg=20, warp_mm=1, warp_spacing_mm=20)
EXTREME.atrophy_mm = [2.0, 2.0]  # the validated limits at their largest


@pytest.mark.parametrize("settings", [PhantomSettings(), EXTREME], ids=["defaults", "extreme"])
def test_the_warp_never_folds(settings: PhantomSettings) -> None:
    # the validated limits (lossbench.config.validate) at their largest still keep det J > 0
    for seed in range(6):
        coords = draw_warp(np.random.default_rng(seed), settings, (80, 96, 80), (2, 2, 2))
        determinant = jacobian_determinant(coords, (2, 2, 2))
        assert determinant.min() > 0, (seed, determinant.min())


def test_the_count_law_is_the_fit_to_msseg2s_counts() -> None:
    # the settings' dispersion is the maximum-likelihood fit of 1 + NB(r, p) with the mean fixed
    from scipy import optimize, stats

    counts = np.asarray(MSSEG2_COUNTS) - 1
    mean = PhantomSettings().count_mean - 1

    def nll(r: float) -> float:
        return -stats.nbinom.logpmf(counts, r, r / (r + mean)).sum()

    best = optimize.minimize_scalar(nll, bounds=(0.01, 10), method="bounded").x
    assert best == pytest.approx(PhantomSettings().count_dispersion, abs=0.01)
    assert sum(MSSEG2_COUNTS) / len(MSSEG2_COUNTS) == pytest.approx(mean + 1, abs=0.005)


def _law_volume_quantiles(settings: PhantomSettings, q: list[float]) -> np.ndarray:
    """Quantiles of the volume law (the location mixture of truncated log-normals)."""
    rng = np.random.default_rng(0)
    shares = np.array(
        [
            settings.periventricular_share,
            settings.juxtacortical_share,
            settings.deep_share,
            settings.infratentorial_share,
        ]
    )
    periventricular = rng.random(200_000) < shares[0] / shares.sum()
    median = np.where(
        periventricular,
        settings.volume_median_mm3 * settings.periventricular_volume_factor,
        settings.volume_median_mm3,
    )
    low, high = (np.log(v) for v in settings.volume_range_mm3)
    a, b = (special.ndtr((x - np.log(median)) / settings.volume_sigma) for x in (low, high))
    z = special.ndtri(a + rng.random(len(median)) * (b - a))
    return np.quantile(np.exp(np.log(median) + settings.volume_sigma * z), q)


@pytest.mark.slow
def test_a_set_of_200_cases_has_msseg2s_statistics() -> None:
    settings = PhantomSettings()
    counts, volumes = [], []
    for seed in range(200):
        case = generate_case(seed, SHAPE, settings=settings)
        labels, n = label_lesions(case.label > 0, case.spacing, min_lesion_mm3=DETECTION_LIMIT_MM3)
        assert n == len(case.new_lesion_centres)  # every drawn lesion counted, once
        counts.append(n)
        volumes += np.bincount(labels.ravel())[1:].tolist()  # 1 mm^3 voxels
    counts_arr = np.asarray(counts)
    positive = counts_arr[counts_arr > 0]
    # lesion-free share: 11/40 = 0.275; binomial SD over 200 cases 0.032, tolerance 2.5 SD
    assert abs(np.mean(counts_arr == 0) - MSSEG2_LESION_FREE) <= 0.08
    # count of a positive case: median 3 (MSSEG-2: 3), mean 5.2 +- 1.5, tail P(n >= 10)
    assert 2 <= np.median(positive) <= 4
    assert abs(positive.mean() - settings.count_mean) <= 1.5
    rng = np.random.default_rng(1)
    law = np.array([new_lesion_count(rng, settings, True) for _ in range(20_000)])
    assert abs(np.mean(positive >= 10) - np.mean(law >= 10)) <= 0.08
    # label volumes against the volume law: 10%, 50% and 90% quantiles within 35%
    q = [0.1, 0.5, 0.9]
    measured, expected = np.quantile(volumes, q), _law_volume_quantiles(settings, q)
    assert np.all(np.abs(measured / expected - 1) <= 0.35), (measured, expected)
    assert np.mean(np.asarray(volumes) < 100) >= 0.6  # most below 100 mm^3


def test_the_msseg2_loader_reads_the_phantom(tmp_path) -> None:
    synthesize(tmp_path, 2, seed=0, shape=(40, 48, 40))
    cases = load_dataset(tmp_path)
    assert cases.case_ids == ["case_000", "case_001"]
    first = generate_case(
        int(np.random.SeedSequence(0).spawn(2)[0].generate_state(1)[0]),
        (40, 48, 40),
        case_id="case_000",
        new_lesions=bool(cases[0].label.any()),
    )
    np.testing.assert_array_equal(cases[0].followup, first.followup)
    assert (tmp_path / "case_000" / "tissue.nii.gz").is_file()


def _broken_nilearn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corrupt: bool) -> Path:
    """A nilearn whose template maps are missing, or present but corrupt."""
    from lossbench.data import template

    folder = tmp_path / "nilearn" / "datasets" / "data"
    folder.mkdir(parents=True)
    if corrupt:
        for name in template.TEMPLATE_FILES.values():
            (folder / name).write_bytes(b"\x1f\x8b not a gzip stream")
    spec = type("Spec", (), {"submodule_search_locations": [str(tmp_path / "nilearn")]})()
    monkeypatch.setattr(template.importlib.util, "find_spec", lambda name: spec)
    template.load_template.cache_clear()
    return folder / template.TEMPLATE_FILES["gm"]


@pytest.mark.parametrize("corrupt", [False, True], ids=["missing", "unreadable"])
def test_a_broken_nilearn_stops_the_run_naming_the_file_before_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, corrupt: bool
) -> None:
    from lossbench.cli import main
    from lossbench.data import template

    path = _broken_nilearn(tmp_path, monkeypatch, corrupt)
    try:
        out = tmp_path / "run"
        assert main(["run", "--out", str(out), "--losses", "dice", "--device", "cpu"]) == 2
        message = capsys.readouterr().err
        assert str(path) in message and "reinstall nilearn" in message
        assert ("missing" if not corrupt else "unreadable") in message
        assert not out.exists()
        with pytest.raises(template.TemplateError, match="reinstall nilearn"):
            synthesize(tmp_path / "phantom", 2)
        assert not (tmp_path / "phantom").exists()
    finally:
        monkeypatch.undo()
        template.load_template.cache_clear()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("phantom.volume_range_mm3=2,300", "above the 3 mm^3 detection limit"),
        ("phantom.warp_mm=3", "phantom.warp_mm must be at most 0.05 x phantom.warp_spacing_mm"),
        ("phantom.atrophy_mm=0,5", "phantom.atrophy_mm must be a range"),
        ("data.target_spacing=5,5,5", "smaller than the V-Net's training patch"),
        ("data.spacing=0.3,0.3,0.3", "field of view under 32 mm"),
    ],
)
def test_settings_that_cannot_be_met_name_their_key(setting: str, message: str) -> None:
    from lossbench.config import ConfigError, apply_overrides, preset, validate

    key = setting.split("=")[0]
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        validate(apply_overrides(preset("quick"), [setting]))
    assert error.value.key == ("data.shape" if key.startswith("data.") else key)
