"""nnU-Net's raw dataset format, read and written.

A dataset folder ``DatasetXXX_Name/`` holds ``dataset.json`` (``channel_names``, ``labels``,
``numTraining``, ``file_ending``), ``imagesTr/<case>_<channel:04d><ending>``,
``labelsTr/<case><ending>`` and, when the dataset has a test split, ``imagesTs/`` and
``labelsTs/``. A two-channel dataset is read as a longitudinal one (channel 0 the baseline,
channel 1 the follow-up), the same :class:`lossbench.data.msseg2.Case` an MSSEG-2 folder gives;
a dataset with one channel or more than two keeps its channels (``Case.images``). The lesion is
one label of ``labels`` (every other label is background). lossbench also writes ``masksTr/``
and ``masksTs/`` with each case's brain mask (nnU-Net ignores them), so that an exported dataset
reads back to the same prepared arrays; without them the brain is thresholded from the last
channel (the follow-up), as for an MSSEG-2 case without ``brain_mask.nii.gz``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lossbench.data.msseg2 import Case, read_volume
from lossbench.data.synthetic import SyntheticCase

__all__ = [
    "NnunetDataset",
    "export_nnunet",
    "input_channels",
    "is_nnunet_dataset",
    "read_dataset_json",
]


def is_nnunet_dataset(root: str | Path) -> bool:
    """Whether ``root`` is an nnU-Net raw dataset (it holds ``dataset.json``).

    Example:
        >>> import tempfile
        >>> is_nnunet_dataset(tempfile.mkdtemp())
        False
    """
    return (Path(root) / "dataset.json").is_file()


def read_dataset_json(root: str | Path) -> dict[str, Any]:
    """The checked ``dataset.json`` of an nnU-Net raw dataset.

    Raises:
        FileNotFoundError: no ``dataset.json`` in ``root``.
        ValueError: it is not JSON, lacks ``channel_names``, ``labels`` or ``file_ending``, or
            names no channel.
    """
    path = Path(root) / "dataset.json"
    if not path.is_file():
        raise FileNotFoundError(f"no dataset.json in {root}: not an nnU-Net raw dataset")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    missing = [k for k in ("channel_names", "labels", "file_ending") if k not in meta]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}")
    if not meta["channel_names"]:
        raise ValueError(f"{path} names no channel (channel_names is empty)")
    return meta


def input_channels(source: str | Path, difference: bool = True) -> int:
    """How many channels the network sees for a ``data.source``: a longitudinal source (the
    phantom, an MSSEG-2 folder, a two-channel nnU-Net dataset) gives baseline, follow-up and,
    when ``difference``, their difference; another nnU-Net dataset gives its own channels.

    Example:
        >>> input_channels("synthetic"), input_channels("synthetic", difference=False)
        (3, 2)
    """
    count = len(read_dataset_json(source)["channel_names"]) if is_nnunet_dataset(source) else 2
    return count + 1 if count == 2 and difference else count


class NnunetDataset(Sequence[Case]):
    """The cases of one split (``"Tr"`` or ``"Ts"``) of an nnU-Net raw dataset, loaded one at a
    time on access, with ``label`` as the lesion.

    Raises (on creation):
        FileNotFoundError: the split's ``labels`` folder is missing or empty, or a case has
            images but no label.
        ValueError: ``label`` is not a foreground label of ``dataset.json``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "Tr",
        label: int = 1,
        case_ids: Sequence[str] | None = None,
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.meta = read_dataset_json(self.root)
        self.ending = str(self.meta["file_ending"])
        self.values = sorted(int(v) for v in self.meta["labels"].values())
        if label == 0 or label not in self.values:
            raise ValueError(
                f"data.label must be a foreground label of {self.root / 'dataset.json'} "
                f"(labels {self.meta['labels']}), got {label}"
            )
        self.label = label
        labels = self.root / f"labels{split}"
        found = (
            sorted(
                p.name[: -len(self.ending)]
                for p in labels.glob(f"*{self.ending}")
                if not p.name.startswith(".")
            )
            if labels.is_dir()
            else []
        )
        if not found:
            raise FileNotFoundError(f"no label file (*{self.ending}) in {labels}")
        images = self.root / f"images{split}"
        imaged = {p.name[: -len(self.ending) - 5] for p in images.glob(f"*_????{self.ending}")}
        unlabelled = sorted(imaged - set(found))
        if unlabelled:
            raise FileNotFoundError(
                f"case {unlabelled[0]}: its images are in {images} but its label is missing: no "
                f"{labels / (unlabelled[0] + self.ending)}"
                + (f" (nor for {len(unlabelled) - 1} more case(s))" if len(unlabelled) > 1 else "")
            )
        self.case_ids = list(case_ids) if case_ids is not None else found

    def __len__(self) -> int:
        return len(self.case_ids)

    def __getitem__(self, index: int) -> Case:  # type: ignore[override]
        return self._load(self.case_ids[index])

    def __iter__(self) -> Iterator[Case]:
        for case_id in self.case_ids:
            yield self._load(case_id)

    def _load(self, case_id: str) -> Case:
        images = self.root / f"images{self.split}"
        channels = []
        for channel in sorted(self.meta["channel_names"], key=int):
            path = images / f"{case_id}_{int(channel):04d}{self.ending}"
            if not path.is_file():
                raise FileNotFoundError(
                    f"case {case_id}: channel {channel} "
                    f"({self.meta['channel_names'][channel]}) is missing: no {path}"
                )
            channels.append((path, *read_volume(path)))
        label_path = self.root / f"labels{self.split}" / f"{case_id}{self.ending}"
        if not label_path.is_file():
            raise FileNotFoundError(f"case {case_id}: no label file {label_path}")
        label, _, _ = read_volume(label_path)
        shapes = {str(p): d.shape for p, d, _, _ in channels} | {str(label_path): label.shape}
        if len(set(shapes.values())) > 1:
            listed = ", ".join(f"{p} {s}" for p, s in shapes.items())
            raise ValueError(f"case {case_id}: its files have different shapes: {listed}")
        unknown = np.setdiff1d(np.unique(label), self.values)
        if unknown.size:
            raise ValueError(
                f"case {case_id}: {label_path} holds label value(s) "
                f"{unknown[:5].tolist()} not in dataset.json's labels {self.meta['labels']}"
            )
        for path, data, _, _ in channels:
            bad = int(np.count_nonzero(~np.isfinite(data)))
            if bad:
                raise ValueError(f"case {case_id}: {path} has {bad} NaN or inf voxels")
        mask_path = self.root / f"masks{self.split}" / f"{case_id}{self.ending}"
        mask = read_volume(mask_path)[0].astype(np.uint8) if mask_path.is_file() else None
        scans = tuple(data.astype(np.float32) for _, data, _, _ in channels)
        _, _, affine, spacing = channels[-1]
        return Case(
            case_id,
            scans[0],
            scans[-1],
            (label == self.label).astype(np.uint8),
            mask,
            spacing,
            affine,
            images=() if len(scans) == 2 else scans,
        )


def export_nnunet(
    train: Sequence[Case | SyntheticCase],
    out: str | Path,
    test: Sequence[Case | SyntheticCase] = (),
    name: str = "lossbench phantom",
) -> Path:
    """Write cases as an nnU-Net raw dataset: baseline as channel 0, follow-up as channel 1,
    the new-lesion mask as label 1, brain masks in ``masksTr/``/``masksTs/``; returns the
    ``dataset.json`` path. ``out`` should be named ``DatasetXXX_Name`` for nnU-Net.

    ``out`` must be new, empty, or an earlier export of lossbench's (its ``dataset.json`` says
    so): the earlier export's folders and ``dataset.json`` are then replaced, so no case of it
    is left behind. Any other folder is refused before a file is written.

    Raises:
        ValueError: ``out`` is a file or holds something else (named).

    Example:
        >>> import tempfile
        >>> from lossbench.data import generate_case
        >>> out = Path(tempfile.mkdtemp()) / "Dataset501_Phantom"
        >>> meta = export_nnunet([generate_case(0, shape=(24, 24, 24))], out)
        >>> sorted(p.name for p in (out / "imagesTr").iterdir())
        ['case_0_0000.nii.gz', 'case_0_0001.nii.gz']
    """
    from lossbench import __version__
    from lossbench._folders import check_output

    root = check_output(out, "nnU-Net dataset")
    ending = ".nii.gz"
    for folder in ("imagesTr", "labelsTr", "masksTr", "imagesTs", "labelsTs", "masksTs"):
        if (root / folder).is_dir():  # an earlier export of lossbench's: replaced whole
            shutil.rmtree(root / folder)
    meta = {
        "name": name,
        "channel_names": {"0": "baseline", "1": "followup"},
        "labels": {"background": 0, "new_lesion": 1},
        "numTraining": len(train),
        "file_ending": ending,
        "lossbench": {"version": __version__, "test_cases": len(test)},
    }
    root.mkdir(parents=True, exist_ok=True)
    path = root / "dataset.json"  # first: it marks the folder as lossbench's export
    path.write_text(json.dumps(meta, indent=2) + "\n")
    for split, cases in (("Tr", train), ("Ts", test)):
        for case in cases:
            _write_case(case, root, split, ending)
    return path


def _write_case(case: Case | SyntheticCase, root: Path, split: str, ending: str) -> None:
    """Write one case's two channels, label and brain mask (when it has one) into the ``split``
    (``"Tr"`` or ``"Ts"``) folders of the dataset at ``root``."""
    import nibabel as nib

    volumes = {
        root / f"images{split}" / f"{case.case_id}_0000{ending}": case.baseline,
        root / f"images{split}" / f"{case.case_id}_0001{ending}": case.followup,
        root / f"labels{split}" / f"{case.case_id}{ending}": case.label.astype(np.uint8),
    }
    if case.brain_mask is not None:
        mask = case.brain_mask.astype(np.uint8)
        volumes[root / f"masks{split}" / f"{case.case_id}{ending}"] = mask
    for file, data in volumes.items():
        file.parent.mkdir(parents=True, exist_ok=True)
        image = nib.Nifti1Image(data, case.affine)
        image.header.set_zooms(case.spacing)
        nib.save(image, file)
