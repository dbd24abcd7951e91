"""A synthetic longitudinal MS phantom, written in MSSEG-2's own file layout.

Each case has a baseline and a follow-up FLAIR-like volume and the mask of the lesions that are
new at follow-up. What makes the real task hard is reproduced on purpose: new lesions are tiny and
rare (a quarter of the cases have none), pre-existing lesions appear at both time points
(some grow, unlabelled, as in MSSEG-2), and the two scans differ by intensity scale, bias field,
noise and a sub-voxel misregistration, so the difference image has edge artefacts.

Arrays are indexed (x, y, z) as nibabel returns them for an RAS affine; the axial plane is the
first two axes. Everything is driven by one ``numpy.random.Generator`` seeded from ``seed``: the
same seed gives the same voxels.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from lossbench._files import write_atomic

__all__ = [
    "MIN_SIZE",
    "PhantomSettings",
    "SyntheticCase",
    "generate_case",
    "synthesize",
    "write_case",
]

MIN_SIZE = 24
"""The smallest edge (voxels) of a phantom volume: the anatomy needs room for its structures."""

# FLAIR-like tissue intensities before acquisition effects
_WM, _GM, _CSF, _CAP, _LESION = 0.50, 0.58, 0.08, 0.66, 0.92


@dataclass(frozen=True)
class PhantomSettings:
    """Difficulty knobs of the phantom (defaults calibrated for the quick preset).

    Attributes:
        new_lesion_rate: mean of the Poisson number of new lesions (ln 4: a quarter of cases
            have none when each case draws its own number).
        new_volume_mm3: range of new-lesion volumes, drawn log-uniformly (mm^3).
        new_contrast: range of the new lesions' peak contrast over white matter (faint to strong).
        old_lesions: range of the number of pre-existing lesions.
        old_growth: probability that a pre-existing lesion grows at follow-up (unlabelled).
        noise: standard deviation of the Gaussian noise, relative to white matter.
        bias: amplitude of the smooth multiplicative bias field of each scan.
        misregistration_vox: maximum translation of the follow-up, voxels (rigid, sub-voxel).
        misregistration_deg: maximum rotation of the follow-up, degrees.
        min_label_mm3: the label of every new lesion is grown until it exceeds this volume, so
            no labelled lesion falls below the evaluation's size limit.
    """

    new_lesion_rate: float = math.log(4)
    new_volume_mm3: tuple[float, float] = (3.0, 300.0)
    new_contrast: tuple[float, float] = (0.15, 0.45)
    old_lesions: tuple[int, int] = (3, 9)
    old_growth: float = 0.3
    noise: float = 0.03
    bias: float = 0.08
    misregistration_vox: float = 0.3
    misregistration_deg: float = 0.4
    min_label_mm3: float = 3.0


@dataclass
class SyntheticCase:
    """One generated case (float32 images, uint8 masks, all of ``shape``).

    Attributes:
        case_id: folder name.
        baseline, followup: FLAIR-like volumes.
        label: new-lesion mask (the only labelled structure).
        brain_mask: the phantom's brain.
        spacing: voxel size (mm) per axis.
        new_lesion_centres: voxel coordinates (x, y, z) of each new lesion's centre.
    """

    case_id: str
    baseline: np.ndarray
    followup: np.ndarray
    label: np.ndarray
    brain_mask: np.ndarray
    spacing: tuple[float, float, float]
    new_lesion_centres: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def affine(self) -> np.ndarray:
        """RAS affine with the voxel size on the diagonal, origin at the volume's centre."""
        affine = np.diag([*self.spacing, 1.0])
        affine[:3, 3] = -np.asarray(self.spacing) * (np.asarray(self.label.shape) - 1) / 2
        return affine


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], cells: int = 5) -> np.ndarray:
    """Smooth random field in about [-1, 1]: coarse Gaussian noise zoomed up with cubic splines."""
    coarse = rng.standard_normal((cells,) * len(shape))
    fine = ndimage.zoom(coarse, [s / cells for s in shape], order=3, mode="nearest")
    return fine[tuple(slice(0, s) for s in shape)] / 1.5


def _ellipsoid(grid: list[np.ndarray], centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True))


def _anatomy(rng: np.random.Generator, shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Tissue maps: brain, grey matter, CSF (sulci + ventricles), periventricular caps."""
    grid = _axes([np.arange(s, dtype=np.float32) for s in shape])
    centre = (np.asarray(shape) - 1) / 2
    radii = np.asarray(shape) * rng.uniform(0.40, 0.46, size=3)
    rho = np.sqrt(_ellipsoid(grid, centre, radii)) + 0.06 * _smooth_field(rng, shape, 4)
    brain = rho < 1.0
    cortex = brain & (rho > 0.84 + 0.03 * _smooth_field(rng, shape, 6))
    sulci = cortex & (np.abs(_smooth_field(rng, shape, 9)) < 0.12) & (rho > 0.86)
    outer_csf = brain & (rho > 0.97)
    # lateral ventricles: two elongated ellipsoids left and right of the midline (axis 0)
    ventricles = np.zeros(shape, bool)
    caps = np.zeros(shape, bool)
    for side in (-1, 1):
        v_centre = centre + np.array([side * 0.09, 0.02, 0.05]) * np.asarray(shape)
        v_radii = np.array([0.045, 0.20, 0.07]) * np.asarray(shape) * rng.uniform(0.85, 1.15, 3)
        q = _ellipsoid(grid, v_centre, v_radii)
        ventricles |= q < 1.0
        # hyperintense caps at the front and back horns: a halo near the ends of the long axis
        ends = np.abs(grid[1] - v_centre[1]) > 0.6 * v_radii[1]
        caps |= (q >= 1.0) & (q < 1.9) & ends
    return {
        "brain": brain,
        "gm": cortex & ~sulci,
        "csf": (sulci | outer_csf | ventricles) & brain,
        "ventricles": ventricles,
        "caps": caps & brain & ~ventricles,
    }


def _blob(
    grid: list[np.ndarray], centre: np.ndarray, volume_vox: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Ovoid lesion field in [0, 1] (partial-volume edges) and its radii, of ~``volume_vox``."""
    ratios = rng.uniform(0.7, 1.4, size=3)
    ratios /= np.cbrt(np.prod(ratios))
    radius = np.cbrt(3 * volume_vox / (4 * np.pi))
    radii = radius * ratios
    q = np.sqrt(_ellipsoid(grid, centre, radii))
    return np.clip(1.5 - q, 0.0, 1.0), radii  # 1 inside q < 0.5, linear ramp to 0 at q = 1.5


def _local_grid(
    centre: np.ndarray, reach: float, shape: tuple[int, ...]
) -> tuple[tuple[slice, ...], list[np.ndarray]]:
    box = tuple(
        slice(max(int(c - reach), 0), min(math.ceil(c + reach) + 1, s))
        for c, s in zip(centre, shape, strict=True)
    )
    return box, _axes([np.arange(b.start, b.stop, dtype=np.float32) for b in box])


def _axes(ranges: list[np.ndarray]) -> list[np.ndarray]:
    """Open grid: each 1D coordinate array reshaped to broadcast along its own axis."""
    return [
        r.reshape([-1 if i == a else 1 for i in range(len(ranges))]) for a, r in enumerate(ranges)
    ]


def _acquire(
    rng: np.random.Generator, image: np.ndarray, brain: np.ndarray, settings: PhantomSettings
) -> np.ndarray:
    """Scanner effects: global scale and offset, smooth bias field, blur, noise."""
    scale, offset = rng.uniform(0.9, 1.1), rng.uniform(-0.03, 0.03)
    bias = np.exp(settings.bias * _smooth_field(rng, image.shape, 3))
    out = ndimage.gaussian_filter(image * bias, 0.6) * scale + offset * brain
    out += settings.noise * rng.standard_normal(image.shape)
    return np.clip(out, 0, None).astype(np.float32)


def _rigid(
    rng: np.random.Generator, volume: np.ndarray, settings: PhantomSettings, order: int
) -> np.ndarray:
    """Apply one small random rigid transform (same draw for every call with the same state)."""
    angle = math.radians(rng.uniform(-1, 1) * settings.misregistration_deg)
    shift = rng.uniform(-1, 1, size=3) * settings.misregistration_vox
    rot = np.array(
        [[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]]
    )
    centre = (np.asarray(volume.shape) - 1) / 2
    offset = centre - rot @ centre + shift
    return ndimage.affine_transform(volume, rot, offset=offset, order=order, mode="nearest")


def _old_lesions(
    rng: np.random.Generator,
    base: np.ndarray,
    follow: np.ndarray,
    ventricles: np.ndarray,
    wm_deep: np.ndarray,
    voxel_mm3: float,
    settings: PhantomSettings,
) -> np.ndarray:
    """Pre-existing lesions, mostly periventricular, drawn into both time points (in place);
    some grow at follow-up, unlabelled. Returns the voxels they occupy at follow-up."""
    near_ventricles = ndimage.binary_dilation(ventricles, iterations=6) & wm_deep
    occupied = np.zeros(base.shape, bool)
    candidates = {True: np.argwhere(near_ventricles), False: np.argwhere(wm_deep)}
    for _ in range(int(rng.integers(*settings.old_lesions, endpoint=True))):
        pool = candidates[bool(rng.random() < 0.7 and len(candidates[True]))]
        centre = pool[rng.integers(len(pool))].astype(np.float64)
        volume = math.exp(rng.uniform(math.log(10), math.log(400))) / voxel_mm3
        box, grid = _local_grid(centre, 2.5 * np.cbrt(volume) + 2, base.shape)
        lesion, _ = _blob(grid, centre, volume, rng)
        contrast = rng.uniform(0.7, 1.0) * (_LESION - _WM)
        base[box] = np.maximum(base[box], np.where(lesion > 0, _WM + contrast * lesion, 0))
        grown = (
            _blob(grid, centre, volume * rng.uniform(1.2, 1.8), rng)[0]
            if (rng.random() < settings.old_growth)
            else lesion
        )
        follow[box] = np.maximum(follow[box], np.where(grown > 0, _WM + contrast * grown, 0))
        occupied[box] |= grown > 0
    return occupied


def _new_lesions(
    rng: np.random.Generator,
    follow: np.ndarray,
    free: np.ndarray,
    fallback: np.ndarray,
    count: int,
    voxel_mm3: float,
    settings: PhantomSettings,
) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """``count`` new lesions drawn into the follow-up (in place), in ``free`` white matter away
    from the old ones (``fallback`` white matter when a small brain has none left). Returns
    their soft field, whose 0.5 level is the label, and their centres (voxels)."""
    field_new = np.zeros(follow.shape, np.float32)
    centres = []
    for _ in range(count):
        pool = np.argwhere(free)
        if not len(pool):  # a small brain crowded by old lesions: any other white matter
            pool = np.argwhere(fallback & ~(field_new > 0))
        if not len(pool):
            break
        centre = pool[rng.integers(len(pool))].astype(np.float64)
        low, high = settings.new_volume_mm3
        volume = math.exp(rng.uniform(math.log(low), math.log(high))) / voxel_mm3
        contrast = rng.uniform(*settings.new_contrast)
        min_voxels = math.floor(settings.min_label_mm3 / voxel_mm3) + 1
        while True:  # grow until the thresholded label is large enough to be scored
            box, grid = _local_grid(centre, 2.5 * np.cbrt(volume) + 2, follow.shape)
            lesion, _ = _blob(grid, centre, volume, rng)
            # the core (> 0.75) must be large enough: the sub-voxel misregistration moves the
            # label's 0.5 edge, never the core's voxels below 0.5
            if np.count_nonzero(lesion > 0.75) >= min_voxels:
                break
            volume *= 1.5
        field_new[box] = np.maximum(field_new[box], lesion)
        follow[box] = np.maximum(
            follow[box], np.where(lesion > 0, follow[box] + contrast * lesion, 0)
        )
        free[box] &= lesion <= 0
        centres.append((float(centre[0]), float(centre[1]), float(centre[2])))
    return field_new, centres


def generate_case(
    seed: int,
    shape: tuple[int, int, int] = (64, 80, 64),
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    settings: PhantomSettings | None = None,
    case_id: str | None = None,
    new_lesions: bool | None = None,
) -> SyntheticCase:
    """Generate one longitudinal phantom case.

    Args:
        seed: drives every random draw of the case.
        shape: volume size (voxels), axes (x, y, z); at least ``MIN_SIZE`` per axis.
        spacing: voxel size (mm) per axis.
        settings: difficulty knobs, :class:`PhantomSettings` defaults when ``None``.
        case_id: folder name; ``f"case_{seed}"`` when ``None``.
        new_lesions: ``None`` draws the number of new lesions from a Poisson law of mean
            ``settings.new_lesion_rate``; ``False`` makes a case without new lesions (empty
            label); ``True`` one with at least one (the same law conditioned on at least one).

    Returns:
        :class:`SyntheticCase`.

    Example:
        >>> case = generate_case(3, shape=(32, 40, 32))
        >>> case.baseline.shape, case.label.dtype, set(np.unique(case.label)) <= {0, 1}
        ((32, 40, 32), dtype('uint8'), True)
    """
    if len(shape) != 3 or min(shape) < MIN_SIZE:
        raise ValueError(f"`shape` must be 3 sizes of at least {MIN_SIZE} voxels, got {shape}")
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"`spacing` must be 3 positive sizes (mm), got {spacing}")
    settings = settings or PhantomSettings()
    rng = np.random.default_rng(seed)
    size = (int(shape[0]), int(shape[1]), int(shape[2]))
    voxel_mm3 = float(np.prod(spacing))
    tissue = _anatomy(rng, size)
    base = np.where(tissue["brain"], _WM, 0.0).astype(np.float32)
    base[tissue["gm"]] = _GM
    base[tissue["caps"]] = _CAP
    base[tissue["csf"]] = _CSF
    wm = tissue["brain"] & ~tissue["gm"] & ~tissue["csf"] & ~tissue["caps"]
    wm_deep = ndimage.binary_erosion(wm, iterations=2)
    follow = base.copy()
    occupied = _old_lesions(rng, base, follow, tissue["ventricles"], wm_deep, voxel_mm3, settings)
    count = int(rng.poisson(settings.new_lesion_rate)) if new_lesions is not False else 0
    while new_lesions and count == 0:
        count = int(rng.poisson(settings.new_lesion_rate))
    free = wm_deep & ~ndimage.binary_dilation(occupied, iterations=3)
    field_new, centres = _new_lesions(rng, follow, free, wm & ~occupied, count, voxel_mm3, settings)

    # acquisition: the follow-up (and its label) is misregistered by a sub-voxel rigid motion
    state = rng.bit_generator.state
    follow = _rigid(rng, follow, settings, order=1)
    rng.bit_generator.state = state
    label = _rigid(rng, field_new, settings, order=1) > 0.5
    baseline = _acquire(rng, base, tissue["brain"], settings)
    followup = _acquire(rng, follow, tissue["brain"], settings)
    return SyntheticCase(
        case_id=case_id or f"case_{seed}",
        baseline=baseline,
        followup=followup,
        label=label.astype(np.uint8),
        brain_mask=tissue["brain"].astype(np.uint8),
        spacing=tuple(float(s) for s in spacing),  # type: ignore[arg-type]
        new_lesion_centres=centres,
    )


def write_case(case: SyntheticCase, root: str | Path) -> Path:
    """Write a case in MSSEG-2's layout under ``root/<case_id>/``; returns that folder.

    Files: ``flair_time01_on_middle_space.nii.gz``, ``flair_time02_on_middle_space.nii.gz``,
    ``ground_truth.nii.gz`` and ``brain_mask.nii.gz``. Each is written to a temporary name first
    and renamed, so an interrupted write never leaves a half-written case that looks complete.

    Example:
        >>> import tempfile
        >>> folder = write_case(generate_case(0, shape=(24, 24, 24)), tempfile.mkdtemp())
        >>> sorted(p.name for p in folder.iterdir())[0]
        'brain_mask.nii.gz'
    """
    import nibabel as nib

    from lossbench.data.msseg2 import FILES

    folder = Path(root) / case.case_id
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        FILES["baseline"]: case.baseline,
        FILES["followup"]: case.followup,
        FILES["label"]: case.label,
        FILES["brain_mask"]: case.brain_mask,
    }
    for name, array in arrays.items():
        image = nib.Nifti1Image(array, case.affine)
        image.header.set_xyzt_units("mm")
        write_atomic(folder / name, functools.partial(nib.save, image), keep_ending=True)
    return folder


def _claim(root: Path, arguments: dict) -> None:
    """Make ``root`` a phantom folder of ``arguments`` (``phantom.json``), or check that it is
    one; refuse any other folder."""
    from lossbench import __version__
    from lossbench._folders import MARKERS, check_output

    marker = check_output(root, "phantom") / MARKERS["phantom"][0]
    if marker.is_file():
        before = json.loads(marker.read_text())
        differ = [
            f"{k} {before.get(k)!r} there, {v!r} here"
            for k, v in arguments.items()
            if before.get(k) != v
        ]
        if differ:
            raise ValueError(
                f"{root} holds a phantom of other arguments ({'; '.join(differ)}); choose "
                "another folder, or delete this one to generate it anew"
            )
        return
    root.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"lossbench": __version__, **arguments}, indent=1) + "\n"
    write_atomic(marker, lambda path: path.write_text(text))


def synthesize(
    root: str | Path,
    cases: int,
    seed: int = 0,
    shape: tuple[int, int, int] = (64, 80, 64),
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    settings: PhantomSettings | None = None,
    progress: bool = False,
    lesion_free: float | None = 0.25,
) -> list[Path]:
    """Generate ``cases`` cases into ``root`` (MSSEG-2 layout), case ``i`` seeded from
    ``(seed, i)``; returns the case folders.

    ``root`` must be new, empty, or a phantom folder written with the same arguments: its
    ``phantom.json`` records them, and the cases already complete there are kept, so an
    interrupted call resumes. Anything else is refused before a file is written, so a folder
    never mixes seeds or shapes.

    ``lesion_free`` is the share of cases without new lesions, rounded up: those cases, chosen
    by a permutation seeded from ``seed``, get an empty label and every other case at least one
    new lesion, so a test set always holds lesion-free cases to count false positives on.
    ``None`` lets each case draw its own number (a quarter of cases without, on average).

    Raises:
        ValueError: ``cases`` or ``lesion_free`` out of range, or ``root`` is a file, holds
            something other than a phantom, or a phantom of other arguments (the differences
            named).

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> [p.name for p in synthesize(root, 2, seed=1, shape=(24, 24, 24))]
        ['case_000', 'case_001']
        >>> synthesize(root, 2, seed=2, shape=(24, 24, 24))
        Traceback (most recent call last):
        ...
        ValueError: ... holds a phantom of other arguments (seed 1 there, 2 here); ...
    """
    from tqdm import tqdm

    from lossbench.data.msseg2 import FILES

    if cases < 1:
        raise ValueError(f"`cases` must be >= 1, got {cases}")
    if lesion_free is not None and not 0 <= lesion_free <= 1:
        raise ValueError(f"`lesion_free` must be in [0, 1] or None, got {lesion_free}")
    arguments = {
        "cases": cases,
        "seed": seed,
        "shape": list(shape),
        "spacing": list(spacing),
        "lesion_free": lesion_free,
        "settings": dataclasses.asdict(settings or PhantomSettings()),
    }
    _claim(Path(root), json.loads(json.dumps(arguments)))
    seeds = np.random.SeedSequence(seed).spawn(cases)
    new: list[bool | None] = [None] * cases
    if lesion_free is not None:
        n_free = math.ceil(round(lesion_free * cases, 9))
        free = set(np.random.default_rng([seed, cases]).permutation(cases)[:n_free].tolist())
        new = [i not in free for i in range(cases)]
    folders = []
    for i in tqdm(range(cases), desc="synth", unit="case", disable=not progress):
        case_id = f"case_{i:03d}"
        folder = Path(root) / case_id
        if not all((folder / name).exists() for name in FILES.values()):
            case_seed = int(seeds[i].generate_state(1)[0])
            case = generate_case(case_seed, shape, spacing, settings, case_id, new[i])
            write_case(case, root)
        folders.append(folder)
    return folders
