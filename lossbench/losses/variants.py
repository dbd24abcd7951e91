"""Loss variants by name: a registered loss with hyper-parameters, written ``hytver(beta=0.8)``.

A variant is checked against the loss's declared hyper-parameters (names, ranges, types) when it
is parsed, so a misspelt or out-of-range value is refused before anything runs. Its canonical id
lists the parameters that differ from the loss's defaults, in the loss's own order, each number
in its shortest form (``hytver(alpha=0.5,gamma=0.3)``); a variant with only default values is the
loss's name. Results, figures, reports and run folders use the canonical id.
"""

from __future__ import annotations

import inspect
import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from lossbench.losses.registry import create_loss, get_loss_class, loss_defaults

__all__ = [
    "LossVariant",
    "create_variant",
    "grid_variants",
    "parse_grid",
    "parse_variant",
    "shortest",
]

_VARIANT = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)
_FIXED = ("reduction",)  # the trainer needs a scalar loss


def shortest(value: Any) -> str:
    """A hyper-parameter value as the canonical id writes it: numbers in their shortest form
    that reads back to the same float, booleans as ``true``/``false``.

    Example:
        >>> [shortest(v) for v in (0.8, 1.0, 2, 1e-05, 0.30000000000000004, True, "mean")]
        ['0.8', '1', '2', '1e-05', '0.30000000000000004', 'true', 'mean']
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        number = float(value)
        if number.is_integer() and abs(number) < 1e16:
            return str(int(number))
        return repr(number)
    return str(value)


def _value(text: str) -> Any:
    """A parameter value from its text: a number, ``true``/``false``, or a bare word."""
    word = text.strip().strip("'\"")
    if word.lower() in ("true", "false"):
        return word.lower() == "true"
    try:
        number = float(word)
    except ValueError:
        return word
    return number if math.isfinite(number) else word


def _parameter_list(name: str) -> str:
    """The loss's hyper-parameters with their defaults and ranges, for error messages."""
    cls = get_loss_class(name)
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return "no declared parameters"
    parts = []
    for p in signature.parameters.values():
        if p.name in _FIXED or p.default is inspect.Parameter.empty:
            continue
        meta = getattr(p.annotation, "__metadata__", ())
        ranges = [m.describe() for m in meta if hasattr(m, "describe")]
        parts.append(f"{p.name}={shortest(p.default)}" + (f" ({ranges[0]})" if ranges else ""))
    return ", ".join(parts) or "none"


@dataclass(frozen=True)
class LossVariant:
    """A registered loss and the hyper-parameters that differ from its defaults.

    Attributes:
        name: the registered loss.
        params: ``(parameter, value)`` pairs in the loss's signature order.
    """

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def id(self) -> str:
        """The canonical id, ``name(p=v,...)``, or ``name`` without parameters.

        Example:
            >>> parse_variant("hytver( gamma=0.30, alpha=.5 )").id
            'hytver(alpha=0.5,gamma=0.3)'
        """
        if not self.params:
            return self.name
        return f"{self.name}({','.join(f'{k}={shortest(v)}' for k, v in self.params)})"

    @property
    def kwargs(self) -> dict[str, Any]:
        """The parameters as keyword arguments of :func:`lossbench.losses.create_loss`."""
        return dict(self.params)


def _pairs(text: str, name: str, inside: str) -> Iterator[tuple[str, str]]:
    for item in filter(None, (part.strip() for part in inside.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(
                f"loss variant {text!r}: {item!r} is not `parameter=value` "
                f"(parameters of {name}: {_parameter_list(name)})"
            )
        yield key.strip(), value


def parse_variant(text: str) -> LossVariant:
    """Parse and check ``name`` or ``name(p=v, ...)`` against the loss's declared parameters.

    Raises:
        ValueError: an unknown loss (with the closest name), a malformed variant, an unknown,
            repeated or fixed parameter, or a value outside its declared range; the message
            names the variant and lists the loss's parameters.

    Example:
        >>> parse_variant("hytver(beta=0.8)")
        LossVariant(name='hytver', params=(('beta', 0.8),))
        >>> parse_variant("hytver(beta=0.7)").id  # the default: the loss itself
        'hytver'
        >>> parse_variant("hytver(beta=1.5)")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: loss variant 'hytver(beta=1.5)': HyTverLoss: `beta` must be in [0, 1], ...
    """
    return _parse(text)[0]


def _parse(text: str) -> tuple[LossVariant, nn.Module]:
    """The variant of ``text`` and its loss, built once (see :func:`parse_variant`)."""
    match = _VARIANT.match(str(text))
    if match is None:
        raise ValueError(f"loss variant {text!r} is not `name` or `name(parameter=value, ...)`")
    name, inside = match.group(1), match.group(2) or ""
    get_loss_class(name)  # an unknown loss raises with the closest name
    given: dict[str, Any] = {}
    for key, value in _pairs(text, name, inside):
        if key in given or key in _FIXED:
            why = "is given twice" if key in given else "is set by the trainer"
            raise ValueError(
                f"loss variant {text!r}: `{key}` {why} "
                f"(parameters of {name}: {_parameter_list(name)})"
            )
        given[key] = _value(value)
    return _built(text, name, given)


def _built(text: str, name: str, given: dict[str, Any]) -> tuple[LossVariant, nn.Module]:
    """The variant and its loss, built once: building it is the check of its parameters."""
    try:
        module = create_loss(name, **given)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"loss variant {text!r}: {exc} (parameters of {name}: {_parameter_list(name)})"
        ) from None
    return LossVariant(name, _ordered(name, given)), module


def _ordered(name: str, given: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The given parameters that differ from the defaults, in the loss's signature order."""
    defaults = loss_defaults(name)
    order = list(defaults) + sorted(set(given) - set(defaults))
    return tuple(
        (key, given[key])
        for key in order
        if key in given and not (key in defaults and _same(given[key], defaults[key]))
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return bool(a == b)


def create_variant(text: str) -> nn.Module:
    """The loss module of a loss name or variant (see :func:`parse_variant`).

    Example:
        >>> create_variant("tversky(fp_weight=0.5,fn_weight=0.5)")
        TverskyLoss(fp_weight=0.5, fn_weight=0.5, smooth=1e-05, batch=True, reduction='mean')
    """
    return _parse(text)[1]  # built once: a loss's constructor may count its calls


def grid_variants(loss: str, grid: Sequence[tuple[str, Sequence[Any]]]) -> list[str]:
    """The canonical ids of every combination of a grid of one loss's hyper-parameters, the
    first parameter varying slowest; combinations with the same id are kept once.

    Args:
        loss: a registered loss name.
        grid: ``(parameter, values)`` pairs, each parameter once, each with one value or more.

    Raises:
        ValueError: an empty grid, a parameter given twice or without values, a parameter the
            loss does not have or a value outside its range (the message names the loss and the
            parameter, and lists the loss's parameters).

    Example:
        >>> grid_variants("hytver", [("alpha", [0.5, 0.7]), ("gamma", [0.3])])
        ['hytver(alpha=0.5,gamma=0.3)', 'hytver(gamma=0.3)']
    """
    get_loss_class(loss)  # an unknown loss raises with the closest name
    if not grid:
        raise ValueError(f"sweep of {loss}: the grid is empty; give --grid PARAMETER=V1,V2,...")
    keys = [key for key, _ in grid]
    for key, values in grid:
        if keys.count(key) > 1 or not values:
            why = "is given twice" if keys.count(key) > 1 else "has no values"
            raise ValueError(
                f"sweep of {loss}: `{key}` {why} (parameters of {loss}: {_parameter_list(loss)})"
            )
        for value in values:  # each value checked alone, so the message names it
            parse_variant(f"{loss}({key}={shortest(value)})")
    ids = []
    for combo in itertools.product(*(values for _, values in grid)):
        pairs = ",".join(f"{k}={shortest(v)}" for k, v in zip(keys, combo, strict=True))
        ids.append(parse_variant(f"{loss}({pairs})").id)
    return list(dict.fromkeys(ids))


def parse_grid(text: str) -> tuple[str, list[Any]]:
    """``PARAMETER=V1,V2,...`` (a ``--grid`` value) as ``(parameter, values)``.

    Raises:
        ValueError: no ``=``, no parameter or no values.

    Example:
        >>> parse_grid("alpha=0.5, 0.7,0.9")
        ('alpha', [0.5, 0.7, 0.9])
    """
    key, sep, values = text.partition("=")
    items = [item for item in values.replace(",", " ").split() if item]
    if not sep or not key.strip() or not items:
        raise ValueError(f"--grid must be PARAMETER=V1,V2,..., got {text!r}")
    return key.strip(), [_value(item) for item in items]
