"""The anatomy phantom's numbers: the ``[phantom]`` table of a configuration.

Each field says where its value comes from. The lesion numbers are MSSEG-2's training set (40
patients, per-patient ground truths, as counted in marianocabezas/msseg2
``metrics_msseg2.ipynb``); the anatomy is the ICBM 2009a symmetric template that nilearn ships.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DETECTION_LIMIT_MM3", "MSSEG2_COUNTS", "MSSEG2_LESION_FREE", "PhantomSettings"]

DETECTION_LIMIT_MM3 = 3.0
"""anima's rule: a lesion is a 6-connected component larger than 3 mm^3 (MSSEG-2's metrics)."""

MSSEG2_COUNTS: tuple[int, ...] = (1, 6, 2, 1, 4, 6, 9, 4, 2, 3, 1, 4, 1, 13, 4, 1, 1, 16, 12, 4)
MSSEG2_COUNTS += (9, 1, 2, 1, 3, 5, 32, 1, 2)
"""New lesions per positive patient of MSSEG-2's training set (29 of 40 patients; 151 lesions)."""

MSSEG2_LESION_FREE = 11 / 40
"""Share of MSSEG-2's training cases without a new lesion (11 of 40, 0.275)."""


@dataclass
class PhantomSettings:
    """How the anatomy phantom draws a case (``data.phantom = "anatomy"``).

    Anatomy (per case, from the ICBM 2009a template):

    Attributes:
        scale: largest relative change of size per axis (0.04: +-4%, the spread of adult
            head sizes after a rigid alignment).
        rotation_deg: largest rotation about each axis (degrees): a head placed in the coil.
        warp_mm: standard deviation of the smooth displacement field (mm), which moves gyri and
            ventricles a few millimetres.
        warp_spacing_mm: distance between the displacement field's control points (mm); the
            field is smooth on this scale. ``warp_mm`` may be at most 0.05 of it, and
            ``atrophy_mm`` at most 2 mm: within these limits the warp never folds.
        atrophy_mm: range of the ventricle enlargement (mm the ventricle walls move outward).
        flair_weights: FLAIR signal of grey matter, white matter and CSF (CSF nulled: dark,
            grey matter brighter than white matter).
        contrast_case_sd: relative spread of each weight between cases.
        contrast_time_sd: relative spread of each weight between the two time points.

    Acquisition (per time point, as MSSEG-2 acquires it):

    Attributes:
        noise: Rician noise, the standard deviation of each complex channel over white matter.
        bias: amplitude of the smooth multiplicative bias field of each scan.
        misregistration_mm: largest residual translation between the time points after the
            halfway registration (mm, sub-voxel).
        misregistration_deg: largest residual rotation (degrees).

    New lesions (MSSEG-2's training set):

    Attributes:
        count_mean: mean number of new lesions of a positive case (151 / 29 = 5.21).
        count_dispersion: dispersion r of the count law, a shifted negative binomial
            1 + NB(r, p), fitted by maximum likelihood to :data:`MSSEG2_COUNTS` (r = 0.531;
            median 3, mean 5.2, as in MSSEG-2). It fits as well as a zero-truncated negative
            binomial (AIC 147.9 against 147.8) and far better than a zero-truncated Poisson
            (AIC 246.5), and its mean is a parameter, so it needs no rejection sampling.
        volume_median_mm3: median of the log-normal lesion volume (mm^3).
        volume_sigma: standard deviation of the log volume (1.2: about 85% of lesions below
            100 mm^3, as MSSEG-2's mostly small new lesions).
        volume_range_mm3: the volume law's truncation: just above the 3 mm^3 detection limit
            to a few thousand mm^3.
        periventricular_share, juxtacortical_share, deep_share, infratentorial_share: the
            location prior of a new lesion. Early-MS cohorts have the most lesions
            subcortically (juxtacortical and deep white matter together: 0.6).
        periventricular_volume_factor: periventricular lesions are this much larger (median),
            so they hold the largest lesion volume, as in early MS.
        elongation: long over short axis of a periventricular lesion, whose long axis is
            perpendicular to the ventricle wall (Dawson's fingers).
        contrast: range of a new lesion's signal over white matter (relative; faint to strong).
        edge_mm: width of a lesion's smooth border (mm).

    Pre-existing lesions (present at both time points, never labelled):

    Attributes:
        old_count: range of their number.
        old_volume_median_mm3: median of their log-normal volume (mm^3).
        old_periventricular_share: share of them beside the ventricles.
        old_growth: probability that one grows between the time points (unlabelled, as
            MSSEG-2 labels only new lesions).
        old_growth_factor: range of the volume factor of a growing one.

    Example:
        >>> PhantomSettings().count_mean
        5.21
    """

    scale: float = 0.04
    rotation_deg: float = 4.0
    warp_mm: float = 2.0
    warp_spacing_mm: float = 40.0
    atrophy_mm: list[float] = field(default_factory=lambda: [0.0, 1.5])
    flair_weights: list[float] = field(default_factory=lambda: [0.78, 0.55, 0.12])
    contrast_case_sd: float = 0.04
    contrast_time_sd: float = 0.02
    noise: float = 0.03
    bias: float = 0.08
    misregistration_mm: float = 0.3
    misregistration_deg: float = 0.4
    count_mean: float = 5.21
    count_dispersion: float = 0.531
    volume_median_mm3: float = 20.0
    volume_sigma: float = 1.2
    volume_range_mm3: list[float] = field(default_factory=lambda: [3.5, 3000.0])
    periventricular_share: float = 0.3
    juxtacortical_share: float = 0.25
    deep_share: float = 0.35
    infratentorial_share: float = 0.1
    periventricular_volume_factor: float = 2.5
    elongation: float = 2.0
    contrast: list[float] = field(default_factory=lambda: [0.3, 1.0])
    edge_mm: float = 0.6
    old_count: list[int] = field(default_factory=lambda: [2, 12])
    old_volume_median_mm3: float = 60.0
    old_periventricular_share: float = 0.6
    old_growth: float = 0.3
    old_growth_factor: list[float] = field(default_factory=lambda: [1.3, 2.5])
