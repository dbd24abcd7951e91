"""Which cases a run trains on and which it tests on, decided once and stored in ``splits.json``.

- the synthetic phantom: its own training and test sets, generated into the run folder;
- an nnU-Net raw dataset: ``imagesTr`` for training and ``imagesTs``/``labelsTs`` for testing
  when present, else a seeded share (``data.test_fraction``) of the training cases;
- an MSSEG-2 folder: the HyTver study's 32/8 split (:data:`PAPER_SPLIT`) when the folder holds
  its case ids, else a seeded share of its complete cases.

``splits.json`` lists the case ids of each part, as nnU-Net's ``splits_final.json`` does, and
where each part's cases lie (relative to the run folder when inside it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lossbench.config.phantom import PhantomSettings
    from lossbench.config.schema import DataConfig
    from lossbench.data.msseg2 import Dataset
    from lossbench.data.nnunet import NnunetDataset

__all__ = [
    "PAPER_SPLIT",
    "CaseSet",
    "Split",
    "carve_validation",
    "generate_phantom",
    "lesion_presence",
    "split_cases",
]

PAPER_SPLIT = {
    "train": "015 016 018 019 020 021 024 029 030 032 035 037 039 043 047 048 049 051 052 057 061 "
    "068 069 070 074 077 083 084 088 089 090 096".split(),
    "test": "013 026 027 091 094 095 099 100".split(),
}
"""The HyTver study's split of MSSEG-2's 40 training cases (32 train, 8 test)."""

_PARTS = ("train", "test", "validation")


@dataclass(frozen=True)
class CaseSet:
    """The cases of one part of a split.

    Attributes:
        root: the folder holding them; a relative path is relative to the run folder.
        case_ids: the cases, in order.
        nnunet_part: ``"Tr"`` or ``"Ts"`` for an nnU-Net raw dataset, ``""`` for a folder in
            MSSEG-2's layout (one sub-folder per case).
    """

    root: Path
    case_ids: tuple[str, ...]
    nnunet_part: str = ""

    def open(self, run_root: Path, label: int = 1) -> Dataset | NnunetDataset:
        """The cases as a dataset, the root taken relative to ``run_root`` when relative.

        Example:
            >>> import tempfile
            >>> from lossbench.data import generate_case, write_case
            >>> run = Path(tempfile.mkdtemp())
            >>> _ = write_case(generate_case(0, shape=(24, 24, 24)), run / "data" / "test")
            >>> CaseSet(Path("data/test"), ("case_0",)).open(run).case_ids
            ['case_0']
        """
        from lossbench.data.msseg2 import load_dataset
        from lossbench.data.nnunet import NnunetDataset

        root = self.root if self.root.is_absolute() else run_root / self.root
        if self.nnunet_part:
            return NnunetDataset(root, self.nnunet_part, label, list(self.case_ids))
        return load_dataset(root, list(self.case_ids))


@dataclass(frozen=True)
class Split:
    """A run's training and test cases, and the validation cases carved from the training
    cases when a run tunes (None otherwise)."""

    train: CaseSet
    test: CaseSet
    validation: CaseSet | None = None

    def to_json(self) -> dict[str, Any]:
        """``splits.json``'s content: the ids of each part, then where each part lies.

        Example:
            >>> s = Split(CaseSet(Path("data/train"), ("a",)), CaseSet(Path("data/test"), ("b",)))
            >>> s.to_json()["test"], s.to_json()["folders"]["test"]
            (['b'], {'root': 'data/test', 'nnunet_part': ''})
        """
        parts = {p: getattr(self, p) for p in _PARTS if getattr(self, p) is not None}
        out: dict[str, Any] = {p: list(s.case_ids) for p, s in parts.items()}
        out["folders"] = {
            p: {"root": s.root.as_posix(), "nnunet_part": s.nnunet_part} for p, s in parts.items()
        }
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Split:
        """The split :meth:`to_json` wrote.

        Example:
            >>> s = Split(CaseSet(Path("data/train"), ("a",)), CaseSet(Path("data/test"), ("b",)))
            >>> Split.from_json(s.to_json()) == s
            True
        """
        sets = {
            p: CaseSet(
                Path(data["folders"][p]["root"]),
                tuple(data[p]),
                data["folders"][p].get("nnunet_part", ""),
            )
            for p in _PARTS
            if p in data
        }
        return cls(sets["train"], sets["test"], sets.get("validation"))


def _seeded(ids: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """A seeded share ``fraction`` (at least one) of ``ids`` for testing: (train, test), sorted."""
    order = np.random.default_rng(seed).permutation(len(ids))
    n_test = max(1, round(fraction * len(ids)))
    test = sorted(ids[i] for i in order[:n_test])
    return sorted(ids[i] for i in order[n_test:]), test


def _nnunet(root: Path, data: DataConfig) -> Split:
    from lossbench.data.nnunet import NnunetDataset

    train = NnunetDataset(root, "Tr", data.label).case_ids
    if (root / "labelsTs").is_dir():
        test = NnunetDataset(root, "Ts", data.label).case_ids
        return Split(CaseSet(root, tuple(train), "Tr"), CaseSet(root, tuple(test), "Ts"))
    train, test = _seeded(train, data.test_fraction, data.seed)
    return Split(CaseSet(root, tuple(train), "Tr"), CaseSet(root, tuple(test), "Tr"))


def split_cases(data: DataConfig, phantom: tuple[Path, Path]) -> Split:
    """The split of a validated ``data`` configuration (see the module's docstring).

    Args:
        data: the ``data`` section of a run's configuration.
        phantom: where a synthetic run generates its training and test sets (relative to the
            run folder); unused for a dataset folder, whose root is stored absolute.

    Raises:
        FileNotFoundError: a dataset folder without complete cases.

    Example:
        >>> from lossbench.config import preset
        >>> split = split_cases(preset("quick").data, (Path("data/train"), Path("data/test")))
        >>> len(split.train.case_ids), len(split.test.case_ids), split.test.root.as_posix()
        (24, 32, 'data/test')
    """
    from lossbench.data.msseg2 import complete_cases
    from lossbench.data.nnunet import is_nnunet_dataset
    from lossbench.data.synthetic import phantom_ids

    if data.source == "synthetic":
        return Split(
            CaseSet(phantom[0], phantom_ids(data.cases)),
            CaseSet(phantom[1], phantom_ids(data.test_cases)),
        )
    root = Path(data.source).resolve()
    if is_nnunet_dataset(root):
        return _nnunet(root, data)
    complete = complete_cases(root)
    if set(PAPER_SPLIT["train"] + PAPER_SPLIT["test"]) <= set(complete):
        train, test = PAPER_SPLIT["train"], PAPER_SPLIT["test"]
    else:
        train, test = _seeded(complete, data.test_fraction, data.seed)
    return Split(CaseSet(root, tuple(train)), CaseSet(root, tuple(test)))


def carve_validation(
    split: Split, has_lesions: Mapping[str, bool], fraction: float, seed: int
) -> Split:
    """``split`` with a validation part carved from its training cases: ``fraction`` of the
    training cases with lesions and ``fraction`` of those without (each rounded), drawn by
    permutations seeded from ``seed``. The training part keeps every case (the final trainings
    use them all); tuning trials train on the training cases outside the validation part.

    Raises:
        ValueError: training or validation would hold no case with lesions (the message gives
            the counts).

    Example:
        >>> ids = tuple(f"c{i}" for i in range(8))
        >>> s = Split(CaseSet(Path("data/train"), ids), CaseSet(Path("data/test"), ("t",)))
        >>> lesions = {c: i % 4 != 0 for i, c in enumerate(ids)}  # 6 with lesions, 2 without
        >>> carve_validation(s, lesions, 0.25, seed=0).validation.case_ids
        ('c3', 'c5')
    """
    ids = split.train.case_ids
    with_lesions = [c for c in ids if has_lesions[c]]
    without = [c for c in ids if not has_lesions[c]]
    chosen: list[str] = []
    for part, salt in ((with_lesions, 0), (without, 1)):
        order = np.random.default_rng([seed, salt]).permutation(len(part))
        chosen += [part[i] for i in order[: round(fraction * len(part))]]
    held = sum(has_lesions[c] for c in chosen)
    if not 0 < held < len(with_lesions):
        raise ValueError(
            f"tune.val_fraction {fraction:g} of the {len(ids)} training cases "
            f"({len(with_lesions)} with lesions) leaves {held} case(s) with lesions in "
            f"validation and {len(with_lesions) - held} in training: each needs at least one"
        )
    validation = CaseSet(
        split.train.root, tuple(c for c in ids if c in chosen), split.train.nnunet_part
    )
    return Split(split.train, split.test, validation)


def lesion_presence(data: DataConfig, split: Split, run_root: Path) -> dict[str, bool]:
    """Whether each training case has lesions: from the phantom's plan for a synthetic run
    (known before any case is generated), from the reference masks for a dataset folder.

    Example:
        >>> from lossbench.config import preset
        >>> data = preset("quick").data
        >>> split = split_cases(data, (Path("data/train"), Path("data/test")))
        >>> sum(lesion_presence(data, split, Path("runs/quick")).values())
        17
    """
    from lossbench.data.synthetic import new_lesion_plan

    if data.source == "synthetic":
        plan = new_lesion_plan(data.seed, data.cases, data.lesion_free)
        return {c: bool(new) for c, new in zip(split.train.case_ids, plan, strict=True)}
    cases = split.train.open(run_root, data.label)
    return {case.case_id: bool(np.any(case.label)) for case in cases}


def generate_phantom(
    data: DataConfig,
    split: Split,
    run_root: Path,
    settings: PhantomSettings | None = None,
    progress: bool = False,
) -> None:
    """Generate the synthetic phantom's training and test sets into the folders ``split`` names
    (relative to ``run_root``): the training set seeded from ``data.seed``, the test set from
    ``data.seed + 1``, the phantom ``data.phantom`` (the anatomy phantom tuned by
    ``settings``, the configuration's ``[phantom]`` table). An interrupted set resumes
    (:func:`lossbench.data.synthesize`); ``progress`` shows a bar per set.

    Raises:
        ValueError: a folder's generated cases are not the ones the split lists.
    """
    from lossbench.data.msseg2 import complete_cases
    from lossbench.data.synthetic import synthesize

    shape = (int(data.shape[0]), int(data.shape[1]), int(data.shape[2]))
    spacing = (float(data.spacing[0]), float(data.spacing[1]), float(data.spacing[2]))
    parts = ((split.train, data.cases, data.seed), (split.test, data.test_cases, data.seed + 1))
    for case_set, count, seed in parts:
        folder = run_root / case_set.root
        synthesize(
            folder,
            count,
            seed,
            shape,
            spacing,
            settings if data.phantom == "anatomy" else None,
            progress,
            data.lesion_free,
            data.phantom,
            data.centre,
        )
        if tuple(complete_cases(folder)) != case_set.case_ids:
            raise ValueError(f"{folder}: its cases are not the ones the split lists")
