"""Run configuration: dataclasses, presets (``quick``, ``standard``, ``scratch``, ``paper``),
``--set k=v`` overrides and a TOML round trip."""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lossbench._text import suggest

__all__ = [
    "MAX_LR",
    "MAX_SEED",
    "PRECISIONS",
    "PRESETS",
    "STORED_TABLES",
    "Config",
    "apply_overrides",
    "from_toml",
    "preset",
    "stored_table",
    "to_toml",
    "validate",
]


PRECISIONS = ("auto", "fp32", "bf16", "fp16")
"""Values of ``train.precision``."""

MAX_SEED = 2**32 - 1
"""The largest seed (``seeds``, ``data.seed``): seeds are integers in [0, 2^32 - 1]."""

MAX_LR = 1.0
"""The largest learning rate (``train.lr``, ``train.pretrain_lr``); Adam's useful rates lie far
below it, and a larger one only makes the loss diverge."""


@dataclass
class DataConfig:
    """Where the cases come from and how they are prepared.

    Attributes:
        source: ``"synthetic"`` (generated into the run folder), an MSSEG-2 folder or an
            nnU-Net raw dataset with two channels, baseline and follow-up
            (:mod:`lossbench.data.nnunet`; its ``imagesTs``/``labelsTs`` are the test set when
            present).
        cases: training cases (synthetic).
        test_cases: test cases (synthetic).
        lesion_free: share of synthetic cases (training and test sets alike) without new
            lesions, rounded up; the others have at least one. Lesion-free test cases are where
            false positives are counted.
        shape: synthetic volume size (voxels).
        spacing: synthetic voxel size (mm).
        seed: seed of the synthetic set and of the split of a real folder, in [0, 2^32 - 1].
        target_spacing: resampling target (mm); empty keeps each case's spacing.
        test_fraction: share of a real folder used for testing when the study's split does not
            apply.
        label: the lesion label of an nnU-Net dataset (every other label is background).
        difference_channel: give the network the follow-up minus the baseline as a third
            channel of a longitudinal case (MSSEG-2, the phantom, a two-channel nnU-Net
            dataset); a dataset with one channel or more than two gets its own channels only.
    """

    source: str = "synthetic"
    cases: int = 24
    test_cases: int = 32
    lesion_free: float = 0.25
    shape: list[int] = field(default_factory=lambda: [48, 56, 48])
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
        patch_size: cubic patch edge (voxels); also the inference window.
        max_shift: lesion-centred patch shift (voxels).
        augment: random 90-degree rotations, flips and small rotations.
        init: ``"pretrain"`` (one shared pretraining per run), ``"scratch"`` or the path of a
            state dict (``torch.save(model.state_dict(), path)``); its entries whose names and
            shapes match the configured V-Net's are loaded, the others keep their seeded
            values, and a file that matches none is refused before the run starts.
        pretrain_loss: loss of the pretraining stage.
        pretrain_iterations: its steps.
        pretrain_lr: its learning rate, in (0, 1].
        freeze_encoder: keep the encoder fixed while fine-tuning.
        checkpoint_every: iterations between checkpoints (resume points).
        precision: arithmetic of the network's forward pass, in training and in inference:
            ``fp32``, ``bf16`` or ``fp16`` autocast (losses are always computed in float32), or
            ``auto``: bf16 on a CUDA device that supports it (fp16 otherwise) and fp32 on the
            CPU, where bf16 autocast made a step 12x slower than fp32 on a CPU without native bf16
            instructions (see the README).
        threads: CPU threads of a trial's torch operations. On the CPU the count changes the
            numbers (a float sum split over more threads is added in another order), so it is
            part of the configuration and every executor runs each trial with exactly this many;
            ``0`` is resolved, when the run folder is created, to the number torch chooses on that
            machine (its physical cores). On CUDA it only sets the threads feeding the GPU.
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
    precision: str = "auto"
    threads: int = 0


@dataclass
class EvalConfig:
    """Sliding-window inference and scoring.

    Attributes:
        window: edge of the inference window (voxels); 0 means ``train.patch_size``. A fully
            convolutional network can take windows larger than its training patches, and a
            window at least as large as a volume predicts it in one pass.
        overlap: fraction of a window shared with its neighbour, in [0, 1).
        save_predictions: write each test case's binary prediction as NIfTI.
        threshold: probability above which a voxel is lesion.
    """

    window: int = 48
    overlap: float = 0.5
    save_predictions: bool = True
    threshold: float = 0.5


@dataclass
class ReportConfig:
    """Statistics of the report.

    Attributes:
        nan_policy: a distance (hd, hd95, asd, assd) that is NaN because exactly one mask is
            empty counts as the case's image diagonal (``"worst"``) or is left out of the
            aggregate (``"exclude"``).
    """

    nan_policy: str = "worst"


@dataclass
class Config:
    """A whole run: which losses and seeds, on which data, with which protocol.

    Attributes:
        seeds: one trial per loss and seed; unique integers in [0, 2^32 - 1].
    """

    preset: str = "quick"
    losses: list[str] = field(default_factory=lambda: ["all"])
    seeds: list[int] = field(default_factory=lambda: [0])
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


def _quick() -> Config:
    return Config()


def _standard() -> Config:
    config = Config(preset="standard", seeds=[0, 1, 2])
    config.data.test_cases = 48
    return config


def _scratch() -> Config:
    config = Config(preset="scratch")
    config.train.init = "scratch"
    config.train.iterations = 600
    config.train.lr = 1e-3
    return config


def _paper() -> Config:
    config = Config(preset="paper")
    config.data.target_spacing = [0.5, 0.75, 0.75]
    config.model = ModelConfig(width=16, levels=5)
    config.train = TrainConfig(
        iterations=250,
        batch_size=4,
        lr=1e-3,
        patch_size=80,
        max_shift=10,
        init="pretrain",
        pretrain_iterations=2000,
        pretrain_lr=1e-3,
    )
    config.eval = EvalConfig(window=0, overlap=0.5)  # windows of the training patch, half overlap
    return config


PRESETS = {"quick": _quick, "standard": _standard, "scratch": _scratch, "paper": _paper}


def preset(name: str) -> Config:
    """A fresh configuration of a named preset.

    Example:
        >>> preset("paper").train.patch_size
        80
    """
    if name not in PRESETS:
        raise ValueError(
            f"unknown preset {name!r}{suggest(name, PRESETS)} (valid: {', '.join(PRESETS)})"
        )
    return PRESETS[name]()


def _coerce(key: str, current: Any, text: str) -> Any:
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
        if isinstance(current, list):
            items = [t for t in text.replace(",", " ").split() if t]
            item_type = type(current[0]) if current else float
            return [item_type(t) for t in items]
    except ValueError:
        kinds: dict[type, str] = {
            bool: "true or false",
            int: "an integer",
            float: "a number",
            list: "a list",
        }
        kind = kinds.get(type(current), type(current).__name__)
        raise ValueError(f"{key} must be {kind}, got {text!r}") from None
    return text


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply ``section.key=value`` strings (``--set``), converting to the field's type.

    Example:
        >>> c = apply_overrides(preset("quick"), ["train.iterations=10", "model.width=4"])
        >>> c.train.iterations, c.model.width
        (10, 4)
    """
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"an override must be section.key=value, got {item!r}")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        target: Any = config
        for part in parts[:-1]:
            names = [f.name for f in dataclasses.fields(target)]
            if part not in names or not dataclasses.is_dataclass(getattr(target, part)):
                raise ValueError(
                    f"unknown config section {part!r} in {key!r}{suggest(part, names)}"
                )
            target = getattr(target, part)
        names = [f.name for f in dataclasses.fields(target)]
        if parts[-1] not in names:
            raise ValueError(f"unknown config key {key!r}{suggest(parts[-1], names)}")
        current = getattr(target, parts[-1])
        if dataclasses.is_dataclass(current):
            keys = ", ".join(f"{key}.{f.name}" for f in dataclasses.fields(current))
            raise ValueError(f"{key!r} is a section, not a key: set one of its keys ({keys})")
        if key == "preset":
            raise ValueError(
                "'preset' chooses a whole protocol, not a key: use the --preset flag "
                "(lossbench.config.preset(name) in Python)"
            )
        setattr(target, parts[-1], _coerce(key, current, text.strip()))
    return config


def _sizes(values: list, count: int = 3) -> bool:
    return len(values) == count and all(0 < v < math.inf for v in values)


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
_LISTS = {int: "integers", float: "numbers", str: "strings"}


def _typed(key: str, default: Any, value: Any) -> Any:
    """``value`` as the type of the field whose default is ``default`` (an int is a float where a
    float is due); raises naming ``key`` when it is of another type."""
    kind = type(default)
    if kind is list:
        item = type(default[0]) if default else float  # the only empty default: target_spacing
        if not isinstance(value, list):
            raise ValueError(f"{key} must be a list of {_LISTS[item]}, got {value!r}")
        return [_typed(f"{key}[{i}]", item(), v) for i, v in enumerate(value)]
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is float and numeric:
        return float(value)
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise ValueError(f"{key} must be {_KINDS[kind]}, got {value!r}")


def _check_types(config: Config) -> None:
    """Every key of ``config`` holds a value of its field's type (lists: of its items' type)."""
    defaults = Config()
    for field_ in dataclasses.fields(Config):
        value, default = getattr(config, field_.name), getattr(defaults, field_.name)
        if not dataclasses.is_dataclass(default):
            _typed(field_.name, default, value)
            continue
        if type(value) is not type(default):
            raise ValueError(f"{field_.name} must be a section of keys, got {value!r}")
        for key in dataclasses.fields(default):
            name = f"{field_.name}.{key.name}"
            _typed(name, getattr(default, key.name), getattr(value, key.name))


def _check_losses(config: Config) -> None:
    from lossbench.losses import get_loss_class

    if not config.losses:
        raise ValueError("losses must name at least one loss, or 'all'")
    names = [n for n in config.losses if n != "all"]
    if "all" in config.losses and names:
        raise ValueError(f"losses must be ['all'] or loss names, got {config.losses!r}")
    for key, name in [
        *(("losses", n) for n in names),
        ("train.pretrain_loss", config.train.pretrain_loss),
    ]:
        try:
            get_loss_class(name)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None


def _check_device(name: str) -> None:
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {name!r}")
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("device is 'cuda', but torch sees no CUDA device")


def _check_source(data: DataConfig) -> None:
    if data.source == "synthetic":
        from lossbench.data.synthetic import MIN_SIZE

        if min(data.shape) < MIN_SIZE:
            raise ValueError(
                f"data.shape must be at least {MIN_SIZE} voxels per axis for the synthetic "
                f"phantom, got {data.shape!r}"
            )
        return
    from lossbench.data.msseg2 import complete_cases
    from lossbench.data.nnunet import NnunetDataset, is_nnunet_dataset

    if not Path(data.source).is_dir():
        raise FileNotFoundError(
            f"data.source must be 'synthetic' or a dataset folder; no folder at {data.source}"
        )
    if is_nnunet_dataset(data.source):
        try:
            NnunetDataset(data.source, "Tr", data.label)
        except (ValueError, FileNotFoundError) as exc:
            raise type(exc)(f"data.source: {exc}") from None
        return
    try:
        complete_cases(data.source)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"data.source: {exc}") from None


def _check_model(config: Config) -> None:
    from lossbench.models.vnet import MIN_LEVELS, size_multiple

    levels = config.model.levels
    if levels < MIN_LEVELS:
        raise ValueError(f"model.levels must be at least {MIN_LEVELS} for the V-Net, got {levels}")
    multiple = size_multiple(levels)
    if config.train.patch_size % multiple:
        raise ValueError(
            f"train.patch_size must be a multiple of {multiple} for a V-Net of {levels} levels "
            f"(2^(model.levels - 1)), got {config.train.patch_size}"
        )


def validate(config: Config) -> Config:
    """Check every value before any work starts; returns ``config`` unchanged.

    Nothing is created or deleted before this passes. Messages start with the config key at
    fault (``losses``, ``device``, ``data.source``, ``train.lr``, ...).

    Raises:
        ValueError: a value of the wrong type or out of range (seeds repeated or outside
            [0, 2^32 - 1], a learning rate outside (0, 1], ...), naming the key, what it must be
            and what it got; an unregistered loss (``losses``, ``train.pretrain_loss``) with a
            did-you-mean; a CUDA device that torch does not see; a model or patch the V-Net
            cannot take; a phantom shape below its minimum; a ``train.init`` file that is no
            state dict or matches none of the V-Net's weights; an incomplete case in the data
            folder.
        FileNotFoundError: ``data.source`` is neither ``synthetic`` nor a folder with complete
            cases, or ``train.init`` is neither ``pretrain``, ``scratch`` nor a file.

    Example:
        >>> validate(apply_overrides(preset("quick"), ["eval.overlap=1"]))
        Traceback (most recent call last):
        ...
        ValueError: eval.overlap must be in [0, 1), got 1.0
    """
    _check_types(config)
    data, model, train, ev = config.data, config.model, config.train, config.eval
    seeds = config.seeds
    rules: list[tuple[str, Any, bool, str]] = [
        ("preset", config.preset, config.preset in PRESETS, f"one of {', '.join(PRESETS)}"),
        ("seeds", seeds, len(seeds) > 0, "at least one seed"),
        ("seeds", seeds, all(0 <= s <= MAX_SEED for s in seeds), f"integers in [0, {MAX_SEED}]"),
        ("seeds", seeds, len(set(seeds)) == len(seeds), "unique (each seed is one trial)"),
        ("data.seed", data.seed, 0 <= data.seed <= MAX_SEED, f"an integer in [0, {MAX_SEED}]"),
        ("data.cases", data.cases, data.cases >= 1, "at least 1"),
        ("data.test_cases", data.test_cases, data.test_cases >= 1, "at least 1"),
        ("data.shape", data.shape, _sizes(data.shape), "3 positive sizes (voxels)"),
        ("data.spacing", data.spacing, _sizes(data.spacing), "3 positive sizes (mm)"),
        (
            "data.target_spacing",
            data.target_spacing,
            not data.target_spacing or _sizes(data.target_spacing),
            "empty or 3 positive sizes (mm)",
        ),
        ("data.lesion_free", data.lesion_free, 0 <= data.lesion_free <= 1, "in [0, 1]"),
        ("data.test_fraction", data.test_fraction, 0 < data.test_fraction < 1, "in (0, 1)"),
        ("model.width", model.width, model.width >= 1, "at least 1"),
        ("train.iterations", train.iterations, train.iterations >= 1, "at least 1"),
        ("train.batch_size", train.batch_size, train.batch_size >= 1, "at least 1"),
        ("train.lr", train.lr, 0 < train.lr <= MAX_LR, f"in (0, {MAX_LR:g}]"),
        ("train.patch_size", train.patch_size, train.patch_size >= 1, "at least 1"),
        ("train.max_shift", train.max_shift, train.max_shift >= 0, "at least 0"),
        (
            "train.pretrain_iterations",
            train.pretrain_iterations,
            train.pretrain_iterations >= 1,
            "at least 1",
        ),
        (
            "train.pretrain_lr",
            train.pretrain_lr,
            0 < train.pretrain_lr <= MAX_LR,
            f"in (0, {MAX_LR:g}]",
        ),
        (
            "train.checkpoint_every",
            train.checkpoint_every,
            train.checkpoint_every >= 1,
            "at least 1",
        ),
        (
            "train.precision",
            train.precision,
            train.precision in PRECISIONS,
            f"one of {', '.join(PRECISIONS)}",
        ),
        ("train.threads", train.threads, train.threads >= 0, "0 (all cores) or a positive count"),
        ("eval.window", ev.window, ev.window >= 0, "0 (the patch size) or a positive edge"),
        ("eval.overlap", ev.overlap, 0 <= ev.overlap < 1, "in [0, 1)"),
        ("eval.threshold", ev.threshold, 0 < ev.threshold < 1, "in (0, 1)"),
        (
            "report.nan_policy",
            config.report.nan_policy,
            config.report.nan_policy in ("worst", "exclude"),
            "'worst' or 'exclude'",
        ),
    ]
    for key, value, ok, expected in rules:
        if not ok:
            raise ValueError(f"{key} must be {expected}, got {value!r}")
    if train.init not in ("pretrain", "scratch") and not Path(train.init).is_file():
        raise FileNotFoundError(
            f"train.init must be 'pretrain', 'scratch' or a state-dict file; no file at "
            f"{train.init}"
        )
    _check_model(config)
    _check_losses(config)
    _check_device(config.device)
    _check_source(data)
    if train.init not in ("pretrain", "scratch"):
        _check_init(config)
    return config


def _check_init(config: Config) -> None:
    """``train.init`` is a state dict that torch loads and that gives the configured V-Net at
    least one of its weights (name and shape); the others keep their seeded values."""
    import torch

    from lossbench.data.nnunet import input_channels
    from lossbench.models.vnet import VNet

    path = config.train.init
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a state dict
        raise ValueError(
            f"train.init: {path} is not a state dict torch can load "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(
            f"train.init: {path} holds a {type(state).__name__}, not a state dict (a mapping "
            "of weight names to tensors, as model.state_dict() gives)"
        )
    channels = input_channels(config.data.source, config.data.difference_channel)
    own = VNet(channels, width=config.model.width, levels=config.model.levels).state_dict()
    if not any(k in state and tuple(state[k].shape) == tuple(v.shape) for k, v in own.items()):
        example = next(iter(own))
        found = tuple(state[example].shape) if example in state else "no such entry"
        raise ValueError(
            f"train.init: {path} matches none of the {len(own)} weights of the configured V-Net "
            f"(model.width {config.model.width}, model.levels {config.model.levels}) by name "
            f"and shape: e.g. {example!r} has shape {tuple(own[example].shape)} there, "
            f"{found} in the file"
        )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def to_toml(config: Config, extra: dict[str, dict[str, Any]] | None = None) -> str:
    """TOML text of a configuration, plus optional extra tables (versions, device, ...).

    Example:
        >>> "[train]" in to_toml(preset("quick"))
        True
    """
    top = {k: v for k, v in dataclasses.asdict(config).items() if not isinstance(v, dict)}
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    tables = {k: v for k, v in dataclasses.asdict(config).items() if isinstance(v, dict)}
    for name, table in {**tables, **(extra or {})}.items():
        lines += ["", f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


STORED_TABLES = ("environment", "test_data", "timing")
"""Tables that ``run`` writes into ``config.toml`` beside the configuration: the versions and
device (``environment``), where the test cases lie (``test_data``: ``root``, ``case_ids``) and
the wall seconds of each phase of the last invocation (``timing``: data, pretraining, training,
evaluation, report)."""


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None


def from_toml(path: str | Path) -> Config:
    """Read a configuration written by :func:`to_toml`.

    Raises:
        ValueError: the file is not TOML, holds a key that is not a configuration key (named,
            with a did-you-mean), as ``--set`` refuses one, or a value of another type than its
            key's (file, key and value named); the tables of ``STORED_TABLES`` are allowed.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "config.toml"
        >>> _ = path.write_text('[train]\\niterations = 5\\n')
        >>> from_toml(path).train.iterations
        5
    """
    path = Path(path)
    raw = _read_toml(path)
    config = Config()
    names = [f.name for f in dataclasses.fields(Config)]
    for name, value in raw.items():
        if name in STORED_TABLES:
            continue
        if name not in names:
            raise ValueError(f"{path}: unknown key {name!r}{suggest(name, names)}")
        section = getattr(config, name)
        try:
            if not dataclasses.is_dataclass(section):
                setattr(config, name, _typed(name, section, value))
                continue
            if not isinstance(value, dict):
                raise ValueError(f"{name!r} must be a table [{name}], got {value!r}")
            keys = [f.name for f in dataclasses.fields(section)]
            for key, item in value.items():
                if key not in keys:
                    raise ValueError(f"unknown key '{name}.{key}'{suggest(key, keys)}")
                setattr(section, key, _typed(f"{name}.{key}", getattr(section, key), item))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return config


def stored_table(path: str | Path, name: str) -> dict[str, Any]:
    """One of the ``STORED_TABLES`` of a ``config.toml`` (empty when the file lacks it).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "config.toml"
        >>> _ = path.write_text(to_toml(preset("quick"), {"test_data": {"root": "data/test"}}))
        >>> stored_table(path, "test_data")
        {'root': 'data/test'}
    """
    if name not in STORED_TABLES:
        raise ValueError(f"name must be one of {', '.join(STORED_TABLES)}, got {name!r}")
    return dict(_read_toml(Path(path)).get(name, {}))
