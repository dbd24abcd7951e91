"""The one validation gate: every value of a configuration checked before any work starts.

Messages start with the key at fault (``losses``, ``device``, ``data.source``, ``train.lr``);
the errors are :class:`~lossbench.config.schema.ConfigError` (a value) and
:class:`~lossbench.config.schema.ConfigPathError` (a missing file or folder), whose ``key`` lets
the command line name the flag that set it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from lossbench._text import either
from lossbench.config.phantom import DETECTION_LIMIT_MM3
from lossbench.config.presets import PRESETS
from lossbench.config.schema import (
    LOSS_KEYWORDS,
    MAX_LR,
    MAX_SEED,
    Config,
    ConfigError,
    ConfigPathError,
    DataConfig,
    allowed_values,
    config_keys,
)
from lossbench.config.text import check_types

__all__ = ["validate"]


def _sizes(values: list) -> bool:
    return len(values) == 3 and all(0 < v < math.inf for v in values)


def _get(config: Config, key: str) -> Any:
    section, _, name = key.rpartition(".")
    return getattr(getattr(config, section) if section else config, name)


_AT_LEAST_1 = (lambda v: v >= 1, "at least 1")
_LR = (lambda v: 0 < v <= MAX_LR, f"in (0, {MAX_LR:g}]")
_SEED = (lambda v: 0 <= v <= MAX_SEED, f"an integer in [0, {MAX_SEED}]")


def _range(low: float, high: float = math.inf) -> Callable[[list], bool]:
    return lambda v: len(v) == 2 and low <= v[0] <= v[1] <= high


_FRACTION = (lambda v: 0 <= v <= 1, "in [0, 1]")
_NOT_NEGATIVE = (lambda v: 0 <= v < math.inf, "at least 0")
_POSITIVE = (lambda v: 0 < v < math.inf, "positive")

_PHANTOM_RULES: list[tuple[str, Callable[[Any], bool], str]] = [
    ("phantom.scale", lambda v: 0 <= v <= 0.2, "in [0, 0.2]"),
    ("phantom.rotation_deg", lambda v: 0 <= v <= 20, "in [0, 20] degrees"),
    ("phantom.warp_mm", *_NOT_NEGATIVE),
    ("phantom.warp_spacing_mm", lambda v: 20 <= v < math.inf, "at least 20 mm"),
    ("phantom.atrophy_mm", _range(0, 2), "a range [low, high] in [0, 2] mm (more folds)"),
    ("phantom.flair_weights", lambda v: len(v) == 3 and min(v) > 0, "3 positive weights"),
    ("phantom.contrast_case_sd", lambda v: 0 <= v <= 0.2, "in [0, 0.2]"),
    ("phantom.contrast_time_sd", lambda v: 0 <= v <= 0.2, "in [0, 0.2]"),
    ("phantom.noise", *_NOT_NEGATIVE),
    ("phantom.bias", *_NOT_NEGATIVE),
    ("phantom.misregistration_mm", *_NOT_NEGATIVE),
    ("phantom.misregistration_deg", *_NOT_NEGATIVE),
    ("phantom.count_mean", lambda v: 1 < v < math.inf, "above 1 (a positive case's mean)"),
    ("phantom.count_dispersion", *_POSITIVE),
    ("phantom.volume_median_mm3", *_POSITIVE),
    ("phantom.volume_sigma", *_POSITIVE),
    (
        "phantom.volume_range_mm3",
        lambda v: len(v) == 2 and DETECTION_LIMIT_MM3 < v[0] < v[1] < math.inf,
        f"a range [low, high] above the {DETECTION_LIMIT_MM3:g} mm^3 detection limit (a "
        "smaller lesion is never counted)",
    ),
    ("phantom.periventricular_share", *_NOT_NEGATIVE),
    ("phantom.juxtacortical_share", *_NOT_NEGATIVE),
    ("phantom.deep_share", *_NOT_NEGATIVE),
    ("phantom.infratentorial_share", *_NOT_NEGATIVE),
    ("phantom.periventricular_volume_factor", *_POSITIVE),
    ("phantom.elongation", lambda v: 1 <= v <= 5, "in [1, 5]"),
    ("phantom.contrast", _range(1e-6), "a range [low, high] of positive contrasts"),
    ("phantom.edge_mm", *_POSITIVE),
    ("phantom.old_count", _range(0), "a range [low, high] of counts from 0"),
    ("phantom.old_volume_median_mm3", *_POSITIVE),
    ("phantom.old_periventricular_share", *_FRACTION),
    ("phantom.old_growth", *_FRACTION),
    ("phantom.old_growth_factor", _range(1), "a range [low, high] from 1"),
]
"""The anatomy phantom's ``[phantom]`` table: each number within what the generator can meet."""

_RULES: list[tuple[str, Callable[[Any], bool], str]] = [
    ("preset", lambda v: v in PRESETS, f"one of {', '.join(PRESETS)}"),
    ("seeds", lambda v: len(v) > 0, "at least one seed"),
    ("seeds", lambda v: all(0 <= s <= MAX_SEED for s in v), f"integers in [0, {MAX_SEED}]"),
    ("seeds", lambda v: len(set(v)) == len(v), "unique (each seed is one trial)"),
    ("data.seed", *_SEED),
    ("data.cases", *_AT_LEAST_1),
    ("data.test_cases", *_AT_LEAST_1),
    ("data.shape", _sizes, "3 positive sizes (voxels)"),
    ("data.spacing", _sizes, "3 positive sizes (mm)"),
    ("data.target_spacing", lambda v: not v or _sizes(v), "empty or 3 positive sizes (mm)"),
    ("data.lesion_free", lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("data.test_fraction", lambda v: 0 < v < 1, "in (0, 1)"),
    ("model.width", *_AT_LEAST_1),
    ("train.iterations", *_AT_LEAST_1),
    ("train.batch_size", *_AT_LEAST_1),
    ("train.lr", *_LR),
    ("train.patch_size", *_AT_LEAST_1),
    ("train.max_shift", lambda v: v >= 0, "at least 0"),
    ("train.pretrain_iterations", *_AT_LEAST_1),
    ("train.pretrain_lr", *_LR),
    ("train.checkpoint_every", *_AT_LEAST_1),
    ("train.probe_every", lambda v: v >= 0, "0 (no probes) or a positive count"),
    ("train.threads", lambda v: v >= 0, "0 (all cores) or a positive count"),
    ("eval.window", lambda v: v >= 0, "0 (the patch size) or a positive edge"),
    ("eval.overlap", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("eval.threshold", lambda v: 0 < v < 1, "in (0, 1)"),
    (
        "report.size_bins",
        lambda v: len(v) > 0 and 0 <= v[0] and all(a < b < math.inf for a, b in pairwise(v)),
        "increasing volume edges (mm^3) from 0, at least one",
    ),
    *_PHANTOM_RULES,
    ("tune.budget", *_AT_LEAST_1),
    ("tune.lr", lambda v: all(0 < x <= MAX_LR for x in v), f"learning rates in (0, {MAX_LR:g}]"),
    ("tune.val_fraction", lambda v: 0 < v < 1, "in (0, 1)"),
    ("tune.seed", *_SEED),
]
"""(key, test, what the value must be) for every range a key's type does not already say."""


def _check_values(config: Config) -> None:
    """The ranges of :data:`_RULES`, and every ``Literal``-typed key's closed list of values."""
    for key, ok, expected in _RULES:
        value = _get(config, key)
        if not ok(value):
            raise ConfigError(key, f"{key} must be {expected}, got {value!r}")
    for key in config_keys():
        values = allowed_values(key)
        if values and _get(config, key) not in values:
            raise ConfigError(key, f"{key} must be {either(values)}, got {_get(config, key)!r}")


def _check_losses(config: Config) -> None:
    from lossbench.losses.variants import parse_variant

    if not config.losses:
        raise ConfigError("losses", "losses must name at least one loss, 'all' or 'released'")
    names = [n for n in config.losses if n not in LOSS_KEYWORDS]
    for key, name in [
        *(("losses", n) for n in names),
        ("train.pretrain_loss", config.train.pretrain_loss),
    ]:
        try:
            parse_variant(name)  # a name, or a variant checked against the loss's parameters
        except ValueError as exc:
            raise ConfigError(key, f"{key}: {exc}") from None


def _check_device(name: str) -> None:
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device", "device is 'cuda', but torch sees no CUDA device")


def _check_source(data: DataConfig) -> None:
    if data.source == "synthetic":
        from lossbench.data.synthetic import MIN_SIZE

        if min(data.shape) < MIN_SIZE:
            raise ConfigError(
                "data.shape",
                f"data.shape must be at least {MIN_SIZE} voxels per axis for the synthetic "
                f"phantom, got {data.shape!r}",
            )
        if data.phantom == "anatomy":
            from lossbench.data.template import check_template

            check_template()  # a missing or unreadable map stops here, naming the file
        return
    from lossbench.data.msseg2 import complete_cases
    from lossbench.data.nnunet import NnunetDataset, is_nnunet_dataset

    if not Path(data.source).is_dir():
        raise ConfigPathError(
            "data.source",
            f"data.source must be 'synthetic' or a dataset folder; no folder at {data.source}",
        )
    try:
        if is_nnunet_dataset(data.source):
            NnunetDataset(data.source, "Tr", data.label)
        else:
            complete_cases(data.source)
    except FileNotFoundError as exc:
        raise ConfigPathError("data.source", f"data.source: {exc}") from None
    except ValueError as exc:
        raise ConfigError("data.source", f"data.source: {exc}") from None


def _check_model(config: Config) -> None:
    from lossbench.models.vnet import MIN_LEVELS, size_multiple

    levels = config.model.levels
    if levels < MIN_LEVELS:
        raise ConfigError(
            "model.levels",
            f"model.levels must be at least {MIN_LEVELS} for the V-Net, got {levels}",
        )
    multiple = size_multiple(levels)
    if config.train.patch_size % multiple:
        raise ConfigError(
            "train.patch_size",
            f"train.patch_size must be a multiple of {multiple} for a V-Net of {levels} levels "
            f"(2^(model.levels - 1)), got {config.train.patch_size}",
        )


WARP_SLOPE = 0.05
"""The largest ``phantom.warp_mm`` per mm of ``phantom.warp_spacing_mm``: a steeper displacement
field can fold the warp (tests/data/test_anatomy.py checks the limits at their largest)."""


def _check_warp(config: Config) -> None:
    settings = config.phantom
    if settings.warp_mm > WARP_SLOPE * settings.warp_spacing_mm:
        raise ConfigError(
            "phantom.warp_mm",
            f"phantom.warp_mm must be at most {WARP_SLOPE:g} x phantom.warp_spacing_mm "
            f"({WARP_SLOPE * settings.warp_spacing_mm:g} mm), got {settings.warp_mm:g}: a "
            "steeper displacement field folds the warp",
        )


def _check_field_of_view(config: Config) -> None:
    """A phantom's volume, on the training grid, must hold one training patch per axis."""
    data = config.data
    if data.source != "synthetic":
        return
    grid = data.target_spacing or data.spacing
    voxels = [round(n * s / g) for n, s, g in zip(data.shape, data.spacing, grid, strict=True)]
    if min(voxels) < config.train.patch_size:
        raise ConfigError(
            "data.shape",
            f"data.shape {data.shape!r} at data.spacing {data.spacing!r} mm is "
            f"{voxels!r} voxels on the training grid, smaller than the V-Net's training patch "
            f"(train.patch_size {config.train.patch_size}) along an axis: enlarge data.shape "
            "or reduce train.patch_size",
        )
    if (
        data.phantom == "anatomy"
        and min(n * s for n, s in zip(data.shape, data.spacing, strict=True)) < 32
    ):
        raise ConfigError(
            "data.shape",
            f"data.shape {data.shape!r} at data.spacing {data.spacing!r} mm is a field of view "
            "under 32 mm along an axis, too small to hold the anatomy phantom's white matter",
        )


def _load_state(path: str) -> dict[str, Any]:
    """``path`` loaded by torch as a state dict (a mapping of names to tensors)."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a state dict
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(
            "train.init",
            f"train.init: {path} is not a state dict torch can load ({type(exc).__name__}: "
            f"{first})",
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ConfigError(
            "train.init",
            f"train.init: {path} holds a {type(state).__name__}, not a state dict (a mapping "
            "of weight names to tensors, as model.state_dict() gives)",
        )
    return state


def _check_init(config: Config) -> None:
    """``train.init`` is ``pretrain``, ``scratch`` or a state dict that gives the configured
    V-Net at least one of its weights (name and shape); the others keep their seeded values."""
    path = config.train.init
    if path in ("pretrain", "scratch"):
        return
    if not Path(path).is_file():
        raise ConfigPathError(
            "train.init",
            f"train.init must be 'pretrain', 'scratch' or a state-dict file; no file at {path}",
        )
    from lossbench.data.nnunet import input_channels
    from lossbench.models.vnet import VNet

    state = _load_state(path)
    channels = input_channels(config.data.source, config.data.difference_channel)
    own = VNet(channels, width=config.model.width, levels=config.model.levels).state_dict()
    if not any(k in state and tuple(state[k].shape) == tuple(v.shape) for k, v in own.items()):
        example = next(iter(own))
        found = tuple(state[example].shape) if example in state else "no such entry"
        raise ConfigError(
            "train.init",
            f"train.init: {path} matches none of the {len(own)} weights of the configured V-Net "
            f"(model.width {config.model.width}, model.levels {config.model.levels}) by name "
            f"and shape: e.g. {example!r} has shape {tuple(own[example].shape)} there, "
            f"{found} in the file",
        )


def _check_tuning(config: Config) -> None:
    """A tuned synthetic run's validation split, known before any case exists, must leave
    cases with lesions on both sides (a dataset folder's is checked when it is resolved)."""
    from lossbench.data.split import carve_validation, lesion_presence, split_cases

    if config.tune.budget <= 1:
        return
    from lossbench.losses.space import search_space
    from lossbench.losses.variants import parse_variant

    for name in config.losses:  # every loss's declared ranges, checked before anything runs
        if name not in LOSS_KEYWORDS:
            try:
                search_space(parse_variant(name).name)
            except ValueError as exc:
                raise ConfigError("losses", f"losses: {exc}") from None
    if config.data.source != "synthetic":
        return
    split = split_cases(config.data, (Path("train"), Path("test")))
    lesions = lesion_presence(config.data, split, Path())
    try:
        carve_validation(split, lesions, config.tune.val_fraction, config.tune.seed)
    except ValueError as exc:
        raise ConfigError("tune.val_fraction", str(exc)) from None


def validate(config: Config) -> Config:
    """Check every value before any work starts; returns ``config`` unchanged.

    Nothing is created or deleted before this passes.

    Raises:
        ConfigError: a value of the wrong type or out of range (seeds repeated or outside
            [0, 2^32 - 1], a learning rate outside (0, 1], ...), naming the key, what it must be
            and what it got; an unregistered loss with a did-you-mean; a CUDA device that torch
            does not see; a model or patch the V-Net cannot take; a phantom below its minimum
            shape or smaller than the training patch; a phantom setting the generator cannot
            meet (``phantom.*``, e.g. lesion volumes below the detection limit); a
            ``train.init`` file that is no state dict or matches none of the V-Net's
            weights; an incomplete case in the data folder.
        ConfigPathError: ``data.source`` is neither ``synthetic`` nor a folder with complete
            cases, or ``train.init`` is neither ``pretrain``, ``scratch`` nor a file.
        TemplateError: the anatomy phantom cannot read nilearn's template maps (the message
            names the file and the fix).

    Example:
        >>> from lossbench.config import apply_overrides, preset
        >>> validate(apply_overrides(preset("quick"), ["eval.overlap=1"]))
        Traceback (most recent call last):
        ...
        lossbench.config.schema.ConfigError: eval.overlap must be in [0, 1), got 1.0
    """
    check_types(config)
    _check_values(config)
    _check_model(config)
    _check_losses(config)
    _check_device(config.device)
    _check_warp(config)
    _check_source(config.data)
    _check_field_of_view(config)
    _check_init(config)
    _check_tuning(config)
    return config
