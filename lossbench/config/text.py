"""A configuration as text: ``--set KEY=VALUE`` overrides and the run folder's ``config.toml``.

``config.toml`` holds what the user asked for and nothing else; run folders made by lossbench
0.1 also hold the tables of :data:`LEGACY_TABLES` there, which :func:`from_toml` skips and
:func:`legacy_table` reads.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from lossbench._text import split_losses, suggest
from lossbench.config.schema import Config, ConfigError

__all__ = [
    "LEGACY_TABLES",
    "apply_overrides",
    "check_types",
    "from_toml",
    "legacy_table",
    "to_toml",
]

_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
_LISTS = {int: "integers", float: "numbers", str: "strings"}

LEGACY_TABLES = ("environment", "test_data", "timing")
"""Tables a 0.1 run wrote into ``config.toml`` beside the configuration, which 0.2 keeps in
``run.json``, ``splits.json`` and ``timing.json``: the versions and device (``environment``),
where the test cases lie (``test_data``: ``root``, ``case_ids``) and the wall seconds of each
phase (``timing``)."""


def _coerce(key: str, current: Any, text: str) -> Any:
    """``text`` as the type of ``current``, the key's present value."""
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
            item_type = type(current[0]) if current else float
            if item_type is str:  # loss variants hold commas inside parentheses
                return split_losses(text)
            items = [t for t in text.replace(",", " ").split() if t]
            return [item_type(t) for t in items]
    except ValueError:
        if isinstance(current, list):
            item = type(current[0]) if current else float
            raise ConfigError(
                key, f"{key} must be comma-separated {_LISTS[item]}, got {text!r}"
            ) from None
        raise ConfigError(key, f"{key} must be {_KINDS[type(current)]}, got {text!r}") from None
    return text


def _target(config: Config, key: str) -> tuple[Any, str]:
    """The dataclass holding ``key`` and the key's last part; raises on an unknown name."""
    parts = key.split(".")
    target: Any = config
    for part in parts[:-1]:
        names = [f.name for f in dataclasses.fields(target)]
        if part not in names or not dataclasses.is_dataclass(getattr(target, part)):
            raise ValueError(f"unknown config section {part!r} in {key!r}{suggest(part, names)}")
        target = getattr(target, part)
    names = [f.name for f in dataclasses.fields(target)]
    if parts[-1] not in names:
        raise ValueError(f"unknown config key {key!r}{suggest(parts[-1], names)}")
    return target, parts[-1]


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply ``section.key=value`` strings (``--set``), converting to the field's type.

    Raises:
        ValueError: an item without ``=``, an unknown section or key (with the closest name), a
            whole section, or ``preset`` (a protocol, chosen with :func:`preset`).
        ConfigError: a value that is not of the key's type.

    Example:
        >>> from lossbench.config import preset
        >>> c = apply_overrides(preset("quick"), ["train.iterations=10", "model.width=4"])
        >>> c.train.iterations, c.model.width
        (10, 4)
    """
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"an override must be section.key=value, got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        target, name = _target(config, key)
        current = getattr(target, name)
        if dataclasses.is_dataclass(current):
            keys = ", ".join(f"{key}.{f.name}" for f in dataclasses.fields(current))
            raise ValueError(f"{key!r} is a section, not a key: set one of its keys ({keys})")
        if key == "preset":
            raise ValueError(
                "'preset' chooses a whole protocol, not a key: use the --preset flag "
                "(lossbench.config.preset(name) in Python)"
            )
        setattr(target, name, _coerce(key, current, text.strip()))
    return config


def _typed(key: str, default: Any, value: Any) -> Any:
    """``value`` as the type of the field whose default is ``default`` (an int is a float where a
    float is due); raises naming ``key`` when it is of another type."""
    kind = type(default)
    base = key.partition("[")[0]  # seeds[0]: the key seeds
    if kind is list:
        item = type(default[0]) if default else float  # the only empty default: target_spacing
        if not isinstance(value, list):
            raise ConfigError(base, f"{key} must be a list of {_LISTS[item]}, got {value!r}")
        return [_typed(f"{key}[{i}]", item(), v) for i, v in enumerate(value)]
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is float and numeric:
        return float(value)
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise ConfigError(base, f"{key} must be {_KINDS[kind]}, got {value!r}")


def check_types(config: Config) -> None:
    """Every key of ``config`` holds a value of its field's type (lists: of its items' type).

    Raises:
        ConfigError: naming the key, what it must be and what it holds.

    Example:
        >>> from lossbench.config import preset
        >>> config = preset("quick")
        >>> config.seeds = [0, "1"]
        >>> check_types(config)
        Traceback (most recent call last):
        ...
        lossbench.config.schema.ConfigError: seeds[1] must be an integer, got '1'
    """
    defaults = Config()
    for field_ in dataclasses.fields(Config):
        value, default = getattr(config, field_.name), getattr(defaults, field_.name)
        if not dataclasses.is_dataclass(default):
            _typed(field_.name, default, value)
            continue
        if type(value) is not type(default):
            raise ConfigError(
                field_.name, f"{field_.name} must be a section of keys, got {value!r}"
            )
        for key in dataclasses.fields(default):
            name = f"{field_.name}.{key.name}"
            _typed(name, getattr(default, key.name), getattr(value, key.name))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def to_toml(config: Config) -> str:
    """TOML text of a configuration: top-level keys, then one table per section.

    Example:
        >>> from lossbench.config import preset
        >>> "[train]" in to_toml(preset("quick"))
        True
    """
    items = dataclasses.asdict(config)
    lines = [f"{k} = {_toml_value(v)}" for k, v in items.items() if not isinstance(v, dict)]
    for name, table in items.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None


def _set_section(config: Config, name: str, value: Any) -> None:
    section = getattr(config, name)
    if not dataclasses.is_dataclass(section):
        setattr(config, name, _typed(name, section, value))
        return
    if not isinstance(value, dict):
        raise ValueError(f"{name!r} must be a table [{name}], got {value!r}")
    keys = [f.name for f in dataclasses.fields(section)]
    for key, item in value.items():
        if key not in keys:
            raise ValueError(f"unknown key '{name}.{key}'{suggest(key, keys)}")
        setattr(section, key, _typed(f"{name}.{key}", getattr(section, key), item))


def from_toml(path: str | Path) -> Config:
    """Read a configuration written by :func:`to_toml`.

    A file written before ``data.phantom`` existed (lossbench 0.1 and 0.2, whose ``[data]`` table
    lacks it) describes the blob phantom, the only one then: it is read as
    ``data.phantom = "blobs"``, so such a run resumes and reports on the data it generated.

    Raises:
        ValueError: the file is not TOML, holds a key that is not a configuration key (named,
            with a did-you-mean), as ``--set`` refuses one, or a value of another type than its
            key's (file, key and value named); the tables of :data:`LEGACY_TABLES` are skipped.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "config.toml"
        >>> _ = path.write_text('[train]\\niterations = 5\\n')
        >>> from_toml(path).train.iterations
        5
    """
    path = Path(path)
    config = Config()
    names = [f.name for f in dataclasses.fields(Config)]
    table = _read_toml(path)
    if isinstance(table.get("data"), dict) and "phantom" not in table["data"]:
        config.data.phantom = "blobs"
    for name, value in table.items():
        if name in LEGACY_TABLES:
            continue
        if name not in names:
            raise ValueError(f"{path}: unknown key {name!r}{suggest(name, names)}")
        try:
            _set_section(config, name, value)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return config


def legacy_table(path: str | Path, name: str) -> dict[str, Any]:
    """One of the :data:`LEGACY_TABLES` of a 0.1 run's ``config.toml`` (empty when the file
    lacks it, as a 0.2 file does).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "config.toml"
        >>> _ = path.write_text('seeds = [0]\\n\\n[test_data]\\nroot = "data/test"\\n')
        >>> legacy_table(path, "test_data")
        {'root': 'data/test'}
    """
    if name not in LEGACY_TABLES:
        raise ValueError(f"name must be one of {', '.join(LEGACY_TABLES)}, got {name!r}")
    return dict(_read_toml(Path(path)).get(name, {}))
