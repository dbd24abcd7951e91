"""Run configuration: the dataclasses and their closed value lists (:mod:`.schema`), the presets
``quick``, ``standard``, ``scratch`` and ``paper`` (:mod:`.presets`), ``--set k=v`` overrides and
the TOML file (:mod:`.text`), the validation gate (:mod:`.validate`) and what a configuration
resolves to on a machine, stored once in the run folder (:mod:`.resolve`)."""

from __future__ import annotations

from lossbench.config.presets import PRESETS, preset
from lossbench.config.resolve import (
    Resolved,
    locate_test_cases,
    machine_threads,
    read_resolved,
    resolve,
    resolve_device,
    resolve_losses,
    resolve_precision,
    run_losses,
    write_resolved,
)
from lossbench.config.schema import (
    DEVICES,
    MAX_LR,
    MAX_SEED,
    NAN_POLICIES,
    PRECISIONS,
    Arithmetic,
    Config,
    ConfigError,
    ConfigPathError,
    DataConfig,
    DeviceSetting,
    EvalConfig,
    ModelConfig,
    NanPolicy,
    Precision,
    ReportConfig,
    TrainConfig,
    allowed_values,
    config_keys,
    flag_of,
    flagged_keys,
)
from lossbench.config.text import (
    LEGACY_TABLES,
    apply_overrides,
    from_toml,
    legacy_table,
    to_toml,
)
from lossbench.config.validate import validate

__all__ = [
    "DEVICES",
    "LEGACY_TABLES",
    "MAX_LR",
    "MAX_SEED",
    "NAN_POLICIES",
    "PRECISIONS",
    "PRESETS",
    "Arithmetic",
    "Config",
    "ConfigError",
    "ConfigPathError",
    "DataConfig",
    "DeviceSetting",
    "EvalConfig",
    "ModelConfig",
    "NanPolicy",
    "Precision",
    "ReportConfig",
    "Resolved",
    "TrainConfig",
    "allowed_values",
    "apply_overrides",
    "config_keys",
    "flag_of",
    "flagged_keys",
    "from_toml",
    "legacy_table",
    "locate_test_cases",
    "machine_threads",
    "preset",
    "read_resolved",
    "resolve",
    "resolve_device",
    "resolve_losses",
    "resolve_precision",
    "run_losses",
    "to_toml",
    "validate",
    "write_resolved",
]
