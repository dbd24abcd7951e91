"""What a validated configuration means on the machine that creates the run folder, decided once.

:func:`resolve` turns a :class:`~lossbench.config.Config` into a frozen :class:`Resolved`
record: the device, the arithmetic, the CPU thread count, the expanded loss list and the split of
the cases. The run folder stores it once, in ``run.json`` and ``splits.json``
(:func:`write_resolved`); every trial, on any executor and any node, reads it back
(:func:`read_resolved`) and resolves nothing itself.
"""

from __future__ import annotations

import functools
import json
import platform
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from lossbench._files import write_json
from lossbench.config.schema import LOSS_KEYWORDS, Arithmetic, Config
from lossbench.config.text import from_toml, legacy_table
from lossbench.layout import RunLayout

if TYPE_CHECKING:
    import torch

    from lossbench.data.split import Split

__all__ = [
    "Resolved",
    "locate_test_cases",
    "machine_threads",
    "read_resolved",
    "resolve",
    "resolve_device",
    "resolve_losses",
    "resolve_precision",
    "run_losses",
    "write_resolved",
]


@dataclass(frozen=True)
class Resolved:
    """A run's settings as resolved when its folder was created.

    Attributes:
        device: ``"cpu"`` or ``"cuda"`` (``device = "auto"`` resolved).
        precision: ``fp32``, ``bf16`` or ``fp16`` (``train.precision = "auto"`` resolved).
        threads: CPU threads of every trial's torch operations (``train.threads = 0`` resolved).
        losses: the losses of the grid (``["all"]`` expanded, duplicates dropped).
        split: the training and test cases.
        environment: versions, device name, git revision and creation time.
    """

    device: str
    precision: Arithmetic
    threads: int
    losses: tuple[str, ...]
    split: Split
    environment: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``run.json``'s content (the split goes to ``splits.json``)."""
        return {
            "device": self.device,
            "precision": self.precision,
            "threads": self.threads,
            "losses": list(self.losses),
            "environment": dict(self.environment),
        }


def resolve_losses(names: Sequence[str]) -> list[str]:
    """Loss names, variants and the keywords of :data:`LOSS_KEYWORDS`, expanded in order, each
    variant as its canonical id (:func:`lossbench.losses.variants.parse_variant`), duplicates
    dropped (unknown names raise with a did-you-mean).

    Example:
        >>> resolve_losses(["dice", "hytver", "dice", "hytver(gamma=0.30)"])
        ['dice', 'hytver', 'hytver(gamma=0.3)']
        >>> resolve_losses(["hytver", "released"])[:3]
        ['hytver', 'asymmetric_unified_focal_released', 'combo_released']
    """
    from lossbench.losses import get_loss_class, list_losses
    from lossbench.losses.released import FAMILY
    from lossbench.losses.variants import parse_variant

    chosen: list[str] = []
    for name in names:
        if name in LOSS_KEYWORDS:
            released = name == "released"
            chosen += [
                n
                for n in list_losses()
                if (getattr(get_loss_class(n), "family", "") == FAMILY) == released
            ]
        else:
            chosen.append(parse_variant(name).id)  # raises ValueError with the closest name
    return list(dict.fromkeys(chosen))


def resolve_device(name: str) -> torch.device:
    """The device of a ``device`` setting: ``auto`` is CUDA when available, else the CPU.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_precision(precision: str, device: str) -> Arithmetic:
    """The arithmetic a ``train.precision`` setting means on a device type (``"cpu"``,
    ``"cuda"``): ``auto`` is bf16 on a CUDA device that supports it, fp16 on an older one, and
    fp32 on the CPU (bf16 autocast only pays off on a CPU with native bf16 instructions; choose it
    there explicitly).

    Example:
        >>> resolve_precision("auto", "cpu"), resolve_precision("bf16", "cpu")
        ('fp32', 'bf16')
    """
    if precision != "auto":
        return cast(Arithmetic, precision)
    if device == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


@functools.cache
def machine_threads() -> int:
    """The thread count torch chooses on this machine (its physical cores), read once.

    Example:
        >>> machine_threads() >= 1
        True
    """
    import torch

    return torch.get_num_threads()


def _git_revision() -> str:
    import lossbench

    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(lossbench.__file__).parent,
            check=False,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def _environment(device: str) -> dict[str, str]:
    import numpy as np
    import torch

    import lossbench

    name = torch.cuda.get_device_name(0) if device == "cuda" else platform.processor()
    return {
        "lossbench": lossbench.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "device_name": name,
        "git_revision": _git_revision(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def resolve(config: Config, layout: RunLayout) -> Resolved:
    """Resolve a validated configuration for a run folder: device, precision, threads, losses
    and split (the phantom's sets lie in the folder's ``data/``; a tuned run's validation cases
    are carved from the training cases).

    Example:
        >>> from lossbench.config import preset
        >>> config = preset("quick")
        >>> config.device, config.losses = "cpu", ["dice", "ce"]
        >>> r = resolve(config, RunLayout(Path("runs/quick")))
        >>> r.device, r.precision, r.losses, len(r.split.test.case_ids)
        ('cpu', 'fp32', ('dice', 'ce'), 32)
    """
    from lossbench.data.split import carve_validation, lesion_presence, split_cases

    device = resolve_device(config.device).type
    phantom = tuple(layout.data(p).relative_to(layout.root) for p in ("train", "test"))
    split = split_cases(config.data, (phantom[0], phantom[1]))
    tune = config.tune
    if tune.budget > 1:  # the tuned protocol: validation cases carved from the training cases
        lesions = lesion_presence(config.data, split, layout.root)
        split = carve_validation(split, lesions, tune.val_fraction, tune.seed)
    return Resolved(
        device=device,
        precision=resolve_precision(config.train.precision, device),
        threads=config.train.threads or machine_threads(),
        losses=tuple(resolve_losses(config.losses)),
        split=split,
        environment=_environment(device),
    )


def write_resolved(resolved: Resolved, layout: RunLayout) -> None:
    """Store ``resolved`` in the run folder: ``splits.json``, then ``run.json`` (the marker of
    a run folder, written last so that a folder with it is complete)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    write_json(layout.splits, resolved.split.to_json())
    write_json(layout.run_json, resolved.to_json())


def read_resolved(layout: RunLayout) -> Resolved:
    """The record :func:`write_resolved` stored in a run folder.

    Raises:
        FileNotFoundError: the folder has no ``run.json`` (not prepared, or made by lossbench
            0.1, whose trials this version does not run; ``report``, ``compare`` and
            ``collect`` still read such a folder).
    """
    if not layout.run_json.is_file() or not layout.splits.is_file():
        raise FileNotFoundError(
            f"{layout.root} has no run.json and splits.json: prepare it with `lossbench run "
            "--plan-only` (a run folder of lossbench 0.1 can be reported, compared and "
            "collected, but its trials are not run by this version)"
        )
    from lossbench.data.split import Split

    data = json.loads(layout.run_json.read_text())
    return Resolved(
        device=data["device"],
        precision=data["precision"],
        threads=int(data["threads"]),
        losses=tuple(data["losses"]),
        split=Split.from_json(json.loads(layout.splits.read_text())),
        environment=data.get("environment", {}),
    )


def run_losses(layout: RunLayout) -> list[str]:
    """The losses of a run folder's grid: ``run.json``'s, or for a 0.1 folder its
    configuration's, expanded against today's registry."""
    if layout.run_json.is_file():
        return list(json.loads(layout.run_json.read_text())["losses"])
    return resolve_losses(from_toml(layout.config).losses)


def locate_test_cases(layout: RunLayout) -> Path | None:
    """The folder holding a run's test cases (one sub-folder per case id, MSSEG-2's layout), or
    None for an nnU-Net dataset or a folder that does not say: ``splits.json``'s test root, or a
    0.1 folder's ``[test_data]`` table, or its generated ``data/test``. A relative root is
    relative to the run folder, so a run folder can be moved with its data.

    Example:
        >>> import tempfile
        >>> locate_test_cases(RunLayout(Path(tempfile.mkdtemp()))) is None
        True
    """
    root: str | None = None
    if layout.splits.is_file():
        folder = json.loads(layout.splits.read_text())["folders"]["test"]
        if folder.get("nnunet_part"):
            return None
        root = folder["root"]
    elif layout.config.is_file():
        root = legacy_table(layout.config, "test_data").get("root")
    if not root:
        return layout.data("test") if layout.data("test").is_dir() else None
    return Path(root) if Path(root).is_absolute() else layout.root / root
