"""A synthetic longitudinal MS phantom, written in MSSEG-2's own file layout.

Each case has a baseline and a follow-up FLAIR-like volume and the mask of the lesions that are
new at follow-up. Two phantoms draw them:

- ``"anatomy"`` (the default): the ICBM 2009a template warped per case
  (:mod:`lossbench.data.anatomy`), with lesions drawn from MSSEG-2's statistics
  (:mod:`lossbench.data.lesion_model`);
- ``"blobs"``: an ellipsoid brain with blob lesions (:mod:`lossbench.data.blobs`), small and
  fast, for tiny tests and for comparison.

What makes the real task hard is reproduced on purpose in both: new lesions are small and rare
(some cases have none), pre-existing lesions appear at both time points (some grow, unlabelled,
as in MSSEG-2), and the two scans differ by contrast, bias field, noise and a sub-voxel
misregistration, so the difference image has edge artefacts.

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
from typing import Literal

import numpy as np

from lossbench._files import write_atomic
from lossbench.config.phantom import MSSEG2_LESION_FREE, PhantomSettings
from lossbench.data import anatomy, blobs
from lossbench.data.blobs import BlobSettings

__all__ = [
    "MIN_SIZE",
    "BlobSettings",
    "PhantomSettings",
    "SyntheticCase",
    "generate_case",
    "new_lesion_plan",
    "phantom_ids",
    "synthesize",
    "write_case",
]

MIN_SIZE = 24
"""The smallest edge (voxels) of a phantom volume: the anatomy needs room for its structures."""

Phantom = Literal["anatomy", "blobs"]
Centre = Literal["brain", "ventricles"]


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
        new_lesion_locations: each new lesion's location class (anatomy phantom only).
        old_lesion_centres: voxel coordinates of each pre-existing lesion's centre (anatomy
            phantom only; never labelled).
        tissue: the tissue map (:data:`lossbench.data.anatomy.TISSUE_CLASSES`; anatomy
            phantom only), written as ``tissue.nii.gz``.
    """

    case_id: str
    baseline: np.ndarray
    followup: np.ndarray
    label: np.ndarray
    brain_mask: np.ndarray
    spacing: tuple[float, float, float]
    new_lesion_centres: list[tuple[float, float, float]] = field(default_factory=list)
    new_lesion_locations: list[str] = field(default_factory=list)
    old_lesion_centres: list[tuple[float, float, float]] = field(default_factory=list)
    tissue: np.ndarray | None = None

    @property
    def affine(self) -> np.ndarray:
        """RAS affine with the voxel size on the diagonal, origin at the volume's centre."""
        affine = np.diag([*self.spacing, 1.0])
        affine[:3, 3] = -np.asarray(self.spacing) * (np.asarray(self.label.shape) - 1) / 2
        return affine


def generate_case(
    seed: int,
    shape: tuple[int, int, int] = (64, 80, 64),
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    settings: PhantomSettings | BlobSettings | None = None,
    case_id: str | None = None,
    new_lesions: bool | None = None,
    phantom: Phantom = "anatomy",
    centre: Centre = "ventricles",
) -> SyntheticCase:
    """Generate one longitudinal phantom case.

    Args:
        seed: drives every random draw of the case.
        shape: volume size (voxels), axes (x, y, z); at least ``MIN_SIZE`` per axis.
        spacing: voxel size (mm) per axis.
        settings: :class:`PhantomSettings` (anatomy) or :class:`BlobSettings` (blobs); their
            defaults when ``None``.
        case_id: folder name; ``f"case_{seed}"`` when ``None``.
        new_lesions: ``None`` lets the case draw its number of new lesions (MSSEG-2's share
            of lesion-free cases for the anatomy phantom); ``False`` makes a case without new
            lesions (empty label); ``True`` one with at least one.
        phantom: ``"anatomy"`` or ``"blobs"``.
        centre: what the anatomy phantom's field of view is centred on: ``"brain"`` or
            ``"ventricles"`` (the lateral ventricles, where most lesions lie).

    Returns:
        :class:`SyntheticCase`.

    Raises:
        TemplateError: the anatomy phantom cannot read nilearn's template.
        TypeError: ``settings`` of the other phantom.

    Example:
        >>> case = generate_case(3, shape=(32, 40, 32), phantom="blobs")
        >>> case.baseline.shape, case.label.dtype, set(np.unique(case.label)) <= {0, 1}
        ((32, 40, 32), dtype('uint8'), True)
    """
    _check_geometry(shape, spacing)
    size = (int(shape[0]), int(shape[1]), int(shape[2]))
    step = (float(spacing[0]), float(spacing[1]), float(spacing[2]))
    rng = np.random.default_rng(seed)
    chosen = _settings_of(phantom, settings)
    if isinstance(chosen, BlobSettings):
        arrays = blobs.blob_case(rng, size, step, chosen, new_lesions)
    else:
        arrays = anatomy.anatomy_case(rng, size, step, chosen, new_lesions, centre)
    return SyntheticCase(case_id or f"case_{seed}", spacing=step, **arrays)


def _settings_of(
    phantom: Phantom, settings: PhantomSettings | BlobSettings | None
) -> PhantomSettings | BlobSettings:
    """The settings a phantom runs with: ``settings``, or its defaults when ``None``; the other
    phantom's settings are refused."""
    kind = BlobSettings if phantom == "blobs" else PhantomSettings
    if settings is not None and not isinstance(settings, kind):
        raise TypeError(
            f"the {phantom} phantom takes {kind.__name__}, got {type(settings).__name__}"
        )
    return settings or kind()


def _check_geometry(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> None:
    """Refuse a shape that is not 3 sizes of at least ``MIN_SIZE``, or a spacing that is not 3
    positive sizes."""
    if len(shape) != 3 or min(shape) < MIN_SIZE:
        raise ValueError(f"`shape` must be 3 sizes of at least {MIN_SIZE} voxels, got {shape}")
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"`spacing` must be 3 positive sizes (mm), got {spacing}")


def write_case(case: SyntheticCase, root: str | Path) -> Path:
    """Write a case in MSSEG-2's layout under ``root/<case_id>/``; returns that folder.

    Files: ``flair_time01_on_middle_space.nii.gz``, ``flair_time02_on_middle_space.nii.gz``,
    ``ground_truth.nii.gz`` and ``brain_mask.nii.gz``, and ``tissue.nii.gz`` when the case has a
    tissue map. Each is written to a temporary name first
    and renamed, so an interrupted write never leaves a half-written case that looks complete.

    Example:
        >>> import tempfile
        >>> folder = write_case(generate_case(0, shape=(24, 24, 24)), tempfile.mkdtemp())
        >>> sorted(p.name for p in folder.iterdir())[0]
        'brain_mask.nii.gz'
    """
    import nibabel as nib

    from lossbench.data.msseg2 import FILES, TISSUE_FILE

    folder = Path(root) / case.case_id
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        FILES["baseline"]: case.baseline,
        FILES["followup"]: case.followup,
        FILES["label"]: case.label,
        FILES["brain_mask"]: case.brain_mask,
    }
    if case.tissue is not None:
        arrays[TISSUE_FILE] = case.tissue
    for name, array in arrays.items():
        image = nib.Nifti1Image(array, case.affine)
        image.header.set_xyzt_units("mm")
        write_atomic(folder / name, functools.partial(nib.save, image), keep_ending=True)
    return folder


def _claim(root: Path, arguments: dict) -> None:
    """Make ``root`` a phantom folder of ``arguments`` (``phantom.json``, and the template's
    ``NOTICE.txt`` for the anatomy phantom), or check that it is one; refuse any other
    folder."""
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
    if arguments.get("phantom") == "anatomy":
        from lossbench.data.template import TEMPLATE_NOTICE

        write_atomic(root / "NOTICE.txt", lambda path: path.write_text(TEMPLATE_NOTICE))


def phantom_ids(count: int) -> tuple[str, ...]:
    """The case ids :func:`synthesize` gives a set of ``count`` cases, in order.

    Example:
        >>> phantom_ids(2)
        ('case_000', 'case_001')
    """
    return tuple(f"case_{i:03d}" for i in range(count))


def synthesize(
    root: str | Path,
    cases: int,
    seed: int = 0,
    shape: tuple[int, int, int] = (64, 80, 64),
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    settings: PhantomSettings | BlobSettings | None = None,
    progress: bool = False,
    lesion_free: float | None = MSSEG2_LESION_FREE,
    phantom: Phantom = "anatomy",
    centre: Centre = "ventricles",
) -> list[Path]:
    """Generate ``cases`` cases into ``root`` (MSSEG-2 layout), case ``i`` seeded from
    ``(seed, i)``; returns the case folders.

    ``root`` must be new, empty, or a phantom folder written with the same arguments: its
    ``phantom.json`` records them, and the cases already complete there are kept, so an
    interrupted call resumes. Anything else is refused before a file is written.

    ``lesion_free`` is the share of cases without new lesions, rounded up: those cases, chosen
    by a permutation seeded from ``seed``, get an empty label and every other case at least one
    new lesion, so a test set always holds lesion-free cases to count false positives on.
    ``None`` lets each case draw its own number. The default is MSSEG-2's share (11 of 40).
    ``phantom``, ``centre`` and ``settings`` are those of :func:`generate_case`.

    Raises:
        ValueError: ``cases`` or ``lesion_free`` out of range, or ``root`` is a file, holds
            something other than a phantom, or a phantom of other arguments (named).
        TemplateError: nilearn's template is unreadable (before any folder is made).

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> [p.name for p in synthesize(root, 2, seed=1, shape=(24, 24, 24), phantom="blobs")]
        ['case_000', 'case_001']
        >>> synthesize(root, 2, seed=2, shape=(24, 24, 24), phantom="blobs")
        Traceback (most recent call last):
        ...
        ValueError: ... holds a phantom of other arguments (seed 1 there, 2 here); ...
    """
    from tqdm import tqdm

    from lossbench.data.msseg2 import FILES

    arguments = _arguments(cases, seed, shape, spacing, settings, lesion_free, phantom, centre)
    _claim(Path(root), json.loads(json.dumps(arguments)))
    seeds = np.random.SeedSequence(seed).spawn(cases)
    new = new_lesion_plan(seed, cases, lesion_free)
    folders, ids = [], phantom_ids(cases)
    for i in tqdm(range(cases), desc="synth", unit="case", disable=not progress):
        folder = Path(root) / ids[i]
        if not all((folder / name).exists() for name in FILES.values()):
            case_seed = int(seeds[i].generate_state(1)[0])
            write_case(
                generate_case(case_seed, shape, spacing, settings, ids[i], new[i], phantom, centre),
                root,
            )
        folders.append(folder)
    return folders


def _arguments(
    cases: int,
    seed: int,
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    settings: PhantomSettings | BlobSettings | None,
    lesion_free: float | None,
    phantom: Phantom,
    centre: Centre,
) -> dict:
    """The arguments of :func:`synthesize` as ``phantom.json`` records them, after checking
    ``cases`` and ``lesion_free``; for the anatomy phantom, after reading nilearn's template,
    so a broken nilearn stops before any folder is made. A blob phantom's record keeps the
    keys lossbench 0.2.0 wrote."""
    if cases < 1:
        raise ValueError(f"`cases` must be >= 1, got {cases}")
    if lesion_free is not None and not 0 <= lesion_free <= 1:
        raise ValueError(f"`lesion_free` must be in [0, 1] or None, got {lesion_free}")
    arguments: dict = {
        "cases": cases,
        "seed": seed,
        "shape": list(shape),
        "spacing": list(spacing),
        "lesion_free": lesion_free,
        "settings": dataclasses.asdict(_settings_of(phantom, settings)),
    }
    if phantom == "anatomy":
        from lossbench.data.template import check_template

        check_template()
        arguments.update(phantom=phantom, centre=centre)
    return arguments


def new_lesion_plan(seed: int, cases: int, lesion_free: float | None) -> list[bool | None]:
    """Per case, whether it has new lesions: ``lesion_free`` of the cases (rounded up), chosen
    by a permutation seeded from ``seed``, have none and every other case at least one; all
    ``None`` (each case draws its own number) when ``lesion_free`` is None.

    Example:
        >>> new_lesion_plan(0, 4, 0.25).count(False)
        1
    """
    new: list[bool | None] = [None] * cases
    if lesion_free is not None:
        n_free = math.ceil(round(lesion_free * cases, 9))
        free = set(np.random.default_rng([seed, cases]).permutation(cases)[:n_free].tolist())
        new = [i not in free for i in range(cases)]
    return new
