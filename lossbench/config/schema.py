"""What a run is made of: the configuration's dataclasses and every closed list of values.

Each list of allowed values is declared here once, as a ``Literal``, and read everywhere else
through :func:`typing.get_args` (``PRECISIONS``, ``NAN_POLICIES``, ``DEVICES``). A key that the
``run`` command sets through a flag of its own says so in its field's metadata
(:func:`flagged_keys`); every other key is set with ``--set KEY=VALUE``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from lossbench.config.phantom import MSSEG2_LESION_FREE, PhantomSettings

__all__ = [
    "DEVICES",
    "LOSS_KEYWORDS",
    "MAX_LR",
    "MAX_SEED",
    "NAN_POLICIES",
    "PRECISIONS",
    "Arithmetic",
    "Config",
    "ConfigError",
    "ConfigPathError",
    "DataConfig",
    "DeviceSetting",
    "EvalConfig",
    "FieldCentre",
    "ModelConfig",
    "NanPolicy",
    "PhantomKind",
    "Precision",
    "ReportConfig",
    "TrainConfig",
    "TuneConfig",
    "TuneMetric",
    "allowed_values",
    "config_keys",
    "flag_of",
    "flagged_keys",
]

Precision = Literal["auto", "fp32", "bf16", "fp16"]
"""Values of ``train.precision``."""
PRECISIONS: tuple[str, ...] = get_args(Precision)

Arithmetic = Literal["fp32", "bf16", "fp16"]
"""What ``train.precision`` resolves to on a device (``auto`` resolved)."""

NanPolicy = Literal["worst", "exclude"]
"""Values of ``report.nan_policy``: how a distance missing because exactly one mask is empty
enters an aggregate."""
NAN_POLICIES: tuple[str, ...] = get_args(NanPolicy)

PhantomKind = Literal["anatomy", "blobs"]
"""Values of ``data.phantom``: the synthetic phantom's generator."""

FieldCentre = Literal["brain", "ventricles"]
"""Values of ``data.centre``: what the anatomy phantom's field of view is centred on."""

DeviceSetting = Literal["auto", "cpu", "cuda"]
"""Values of ``device``: ``auto`` is CUDA when torch sees a device, else the CPU."""
DEVICES: tuple[str, ...] = get_args(DeviceSetting)

LOSS_KEYWORDS = {
    "all": "every registered loss but the released variants",
    "released": "the paper's losses as their authors' code computes them (family 'released')",
}
"""Words that ``losses`` (``--losses``) accepts beside loss names, with what each selects."""

MAX_SEED = 2**32 - 1
"""The largest seed (``seeds``, ``data.seed``): seeds are integers in [0, 2^32 - 1]."""

MAX_LR = 1.0
"""The largest learning rate (``train.lr``, ``train.pretrain_lr``); Adam's useful rates lie far
below it, and a larger one only makes the loss diverge."""


class ConfigError(ValueError):
    """A configuration value lossbench refuses; ``key`` names it (``train.lr``), and the message
    starts with it, so the command line can name the flag that set it instead."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class ConfigPathError(FileNotFoundError):
    """A configuration value naming a file or folder that does not exist; ``key`` as in
    :class:`ConfigError`."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _flag(name: str, text: str) -> dict[str, str]:
    return {"flag": name, "help": text}


@dataclass
class DataConfig:
    """Where the cases come from and how they are prepared.

    Attributes:
        source: ``"synthetic"`` (generated into the run folder), an MSSEG-2 folder or an
            nnU-Net raw dataset (:mod:`lossbench.data.nnunet`; its ``imagesTs``/``labelsTs``
            are the test set when present).
        phantom: the synthetic phantom: ``"anatomy"`` (the ICBM 2009a template warped per
            case, lesions drawn from MSSEG-2's statistics; tuned by the ``[phantom]`` table)
            or ``"blobs"`` (an ellipsoid brain with blob lesions, for tiny tests).
        centre: what the anatomy phantom's field of view is centred on: ``"brain"`` (its
            bounding box) or ``"ventricles"`` (the lateral ventricles, where most lesions lie).
        cases: training cases (synthetic).
        test_cases: test cases (synthetic).
        lesion_free: share of synthetic cases (training and test sets alike) without new
            lesions, rounded up; the others have at least one. The default is MSSEG-2's
            training set: 11 of 40 patients without a new lesion.
        shape: synthetic volume size (voxels): the field of view is ``shape * spacing`` mm.
        spacing: synthetic voxel size (mm).
        seed: seed of the synthetic set and of the split of a real folder, in [0, 2^32 - 1].
        target_spacing: resampling target (mm); empty keeps each case's spacing.
        test_fraction: share of a real folder used for testing when the study's split does not
            apply.
        label: the lesion label of an nnU-Net dataset (every other label is background).
        difference_channel: give the network the follow-up minus the baseline as a third
            channel of a longitudinal case; a dataset with one channel or more than two gets
            its own channels only.
    """

    source: str = field(
        default="synthetic",
        metadata=_flag("--data", "'synthetic' (default) or an MSSEG-2 folder"),
    )
    phantom: PhantomKind = "anatomy"
    centre: FieldCentre = "ventricles"
    cases: int = 24
    test_cases: int = 32
    lesion_free: float = MSSEG2_LESION_FREE
    shape: list[int] = field(default_factory=lambda: [64, 80, 64])
    spacing: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    seed: int = 0
    target_spacing: list[float] = field(default_factory=list)
    test_fraction: float = 0.2
    label: int = 1
    difference_channel: bool = True


@dataclass
class ModelConfig:
    """The shared V-Net: channels of the first level and number of levels."""

    width: int = 8
    levels: int = 3


@dataclass
class TrainConfig:
    """One trial's training.

    Attributes:
        iterations: optimiser steps per trial.
        batch_size: patches per step.
        lr: Adam learning rate, in (0, 1].
        patch_size: cubic patch edge (voxels).
        max_shift: lesion-centred patch shift (voxels).
        augment: random 90-degree rotations, flips and small rotations.
        init: ``"pretrain"`` (one shared pretraining per run), ``"scratch"`` or the path of a
            state dict whose entries matching the V-Net by name and shape are loaded.
        pretrain_loss: loss of the pretraining stage.
        pretrain_iterations: its steps.
        pretrain_lr: its learning rate, in (0, 1].
        freeze_encoder: keep the encoder fixed while fine-tuning.
        checkpoint_every: iterations between checkpoints (resume points).
        probe_every: iterations between gradient probes (:mod:`lossbench.probe`: where the
            step's gradient with respect to the logits lies, in ``history.csv``); 0 turns them
            off. A probe reads the step's own backward pass and changes no weight.
        precision: arithmetic of the network's forward pass, in training and in inference:
            ``fp32``, ``bf16`` or ``fp16`` autocast (losses are always computed in float32), or
            ``auto``: bf16 on a CUDA device that supports it (fp16 otherwise) and fp32 on the
            CPU, where bf16 autocast made a step 12x slower on a CPU without native bf16.
        threads: CPU threads of a trial's torch operations. On the CPU the count changes the
            numbers, so it is part of the configuration; ``0`` is resolved when the run folder
            is created (``run.json``) to the count torch chooses on that machine.
    """

    iterations: int = 150
    batch_size: int = 4
    lr: float = 3e-4
    patch_size: int = 16
    max_shift: int = 6
    augment: bool = True
    init: str = "pretrain"
    pretrain_loss: str = "dice_ce"
    pretrain_iterations: int = 400
    pretrain_lr: float = 1e-3
    freeze_encoder: bool = False
    checkpoint_every: int = 50
    probe_every: int = 10
    precision: Precision = "auto"
    threads: int = field(
        default=0,
        metadata=_flag(
            "--trial-cpus",
            "CPU threads per trial, on either executor (sets train.threads; Ray asks for N CPUs "
            "per trial). Default: the machine's cores for a CPU run, 1 CPU per trial with a GPU",
        ),
    )


@dataclass
class EvalConfig:
    """Sliding-window inference and scoring.

    Attributes:
        window: edge of the inference window (voxels); 0 means ``train.patch_size``.
        overlap: fraction of a window shared with its neighbour, in [0, 1).
        save_predictions: write each test case's binary prediction as NIfTI.
        save_probabilities: write each test case's probability map (before the threshold,
            inside the brain mask) as 16-bit NIfTI, for analyses of one's own (NIfTI has no
            float16: uint16 under the header's scaling, read back within 8e-6).
        threshold: probability above which a voxel is lesion.
    """

    window: int = 64
    overlap: float = 0.5
    save_predictions: bool = True
    save_probabilities: bool = False
    threshold: float = 0.5


@dataclass
class ReportConfig:
    """Statistics of the report.

    Attributes:
        nan_policy: a distance (hd, hd95, asd, assd) that is NaN because exactly one mask is
            empty counts as the case's image diagonal (``"worst"``) or is left out of the
            aggregate (``"exclude"``).
        size_bins: the edges (mm^3) of the lesion-volume bins of the detection-by-size
            analysis, increasing: ``[3, 10, 30, 100, 300]`` makes 3-10, 10-30, 30-100, 100-300
            and >300 mm^3.
    """

    nan_policy: NanPolicy = "worst"
    size_bins: list[float] = field(default_factory=lambda: [3.0, 10.0, 30.0, 100.0, 300.0])


TuneMetric = Literal["dice", "lesion_f1"]
"""Values of ``tune.metric``: the validation metric that picks a loss's configuration."""


@dataclass
class TuneConfig:
    """The tuned protocol: an equal tuning budget for every loss, on validation cases carved from
    the training cases (the test cases are never read while tuning).

    Attributes:
        budget: configurations per loss, its defaults first, then a seeded Sobol sample over the
            loss's declared ranges (and ``lr``); 1 (the default) trains every loss at its
            defaults and tunes nothing.
        lr: learning rates that join the search (empty: ``train.lr`` only).
        metric: the validation metric that picks the configuration (mean over the validation
            cases with lesions; a tie goes to the defaults).
        val_fraction: the share of the training cases set aside for validation, drawn
            separately from the cases with and without lesions.
        seed: the seed of the validation split, of the Sobol sample and of the tuning trials.
    """

    budget: int = 1
    lr: list[float] = field(default_factory=list)
    metric: TuneMetric = "dice"
    val_fraction: float = 0.25
    seed: int = 0


@dataclass
class Config:
    """A whole run: which losses and seeds, on which data, with which protocol.

    Attributes:
        preset: the protocol the other values started from.
        losses: loss names and :data:`LOSS_KEYWORDS` (``all``, ``released``).
        seeds: one trial per loss and seed; unique integers in [0, 2^32 - 1].
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    preset: str = field(
        default="quick",
        metadata=_flag("--preset", "quick (default), tuned, standard, scratch or paper"),
    )
    losses: list[str] = field(
        default_factory=lambda: ["all"],
        metadata=_flag(
            "--losses",
            "comma-separated loss names; 'all' (every loss but the released variants), "
            "'released' (the paper's losses as released) or both",
        ),
    )
    seeds: list[int] = field(
        default_factory=lambda: [0],
        metadata=_flag("--seeds", "comma-separated seeds, e.g. 0,1,2"),
    )
    device: DeviceSetting = field(
        default="auto", metadata=_flag("--device", "auto (default), cpu or cuda")
    )
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    phantom: PhantomSettings = field(default_factory=PhantomSettings)
    tune: TuneConfig = field(default_factory=TuneConfig)


def _walk() -> Iterator[tuple[str, dataclasses.Field]]:
    """Every key of :class:`Config` (``"seeds"``, ``"train.lr"``) with its field."""
    for top in dataclasses.fields(Config):
        section = top.default_factory() if callable(top.default_factory) else None
        if dataclasses.is_dataclass(section):
            for inner in dataclasses.fields(section):
                yield f"{top.name}.{inner.name}", inner
        else:
            yield top.name, top


def config_keys() -> list[str]:
    """Every configuration key, sections first-level keys included, in declaration order.

    Example:
        >>> config_keys()[:4], "train.lr" in config_keys()
        (['preset', 'losses', 'seeds', 'device'], True)
    """
    return [key for key, _ in _walk()]


def flagged_keys() -> dict[str, tuple[str, str]]:
    """The keys the ``run`` command sets through a flag of their own: key -> (flag, help).

    Example:
        >>> flagged_keys()["data.source"][0]
        '--data'
    """
    return {
        key: (f.metadata["flag"], f.metadata["help"]) for key, f in _walk() if "flag" in f.metadata
    }


def flag_of(key: str) -> str:
    """How the command line sets ``key``: its own flag, else ``--set KEY``.

    Example:
        >>> flag_of("seeds"), flag_of("train.lr")
        ('--seeds', '--set train.lr')
    """
    flags = flagged_keys()
    return flags[key][0] if key in flags else f"--set {key}"


def allowed_values(key: str) -> tuple[Any, ...]:
    """The closed list of values of ``key`` when its type is a ``Literal``, else ``()``.

    Example:
        >>> allowed_values("train.precision"), allowed_values("train.lr")
        (('auto', 'fp32', 'bf16', 'fp16'), ())
    """
    import typing

    section, _, name = key.rpartition(".")
    owner = type(getattr(Config(), section)) if section else Config
    hint = typing.get_type_hints(owner)[name]
    return get_args(hint) if typing.get_origin(hint) is Literal else ()
