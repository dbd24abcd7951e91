"""Hyper-parameter declarations and their validation.

A term declares each keyword hyper-parameter with an annotation that says what it accepts:
:data:`Fraction` (a real number in [0, 1]), :data:`NonNegative` (>= 0), any other
``Annotated[float, Interval(low, high)]``, a ``Literal[...]`` of allowed values, or ``bool``.
:func:`check_params` reads those annotations to check what a caller gives.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from lossbench._text import suggest

__all__ = ["Fraction", "Interval", "NonNegative", "Reduction", "check_params", "check_value"]

Reduction = Literal["mean", "none"]


@dataclass(frozen=True)
class Interval:
    """Closed range ``[low, high]`` that a float hyper-parameter must lie in."""

    low: float
    high: float = math.inf

    def describe(self) -> str:
        """Human-readable form used in error messages.

        Example:
            >>> Interval(0.0, 1.0).describe(), Interval(0.0).describe()
            ('in [0, 1]', '>= 0')
        """
        if math.isinf(self.high):
            return f">= {self.low:g}"
        return f"in [{self.low:g}, {self.high:g}]"


Fraction = Annotated[float, Interval(0.0, 1.0)]
NonNegative = Annotated[float, Interval(0.0)]


def check_value(owner: str, name: str, value: Any, hint: Any) -> None:
    """Raise unless ``value`` fits the annotation ``hint`` of the hyper-parameter ``name``.

    Raises:
        TypeError: not a real number (for an ``Annotated`` range), or not a bool (for ``bool``).
        ValueError: outside the annotated range, or not one of a ``Literal``'s values.

    Example:
        >>> check_value("dice", "smooth", 0.5, NonNegative)
        >>> check_value("dice", "smooth", -1.0, NonNegative)
        Traceback (most recent call last):
        ...
        ValueError: dice: `smooth` must be >= 0, got -1.0
    """
    origin = typing.get_origin(hint)
    if origin is Annotated:
        _, *meta = typing.get_args(hint)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{owner}: `{name}` must be a real number, got {value!r}")
        for m in meta:
            if isinstance(m, Interval) and not (m.low <= value <= m.high):
                raise ValueError(f"{owner}: `{name}` must be {m.describe()}, got {value!r}")
    elif origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            hint_text = suggest(value, allowed) if isinstance(value, str) else ""
            raise ValueError(
                f"{owner}: `{name}` must be one of {list(allowed)}, got {value!r}{hint_text}"
            )
    elif hint is bool and not isinstance(value, bool):
        raise TypeError(f"{owner}: `{name}` must be True or False, got {value!r}")


def check_params(owner: str, signature: inspect.Signature, params: Mapping[str, Any]) -> dict:
    """Validate keyword hyper-parameters against ``signature``; return them with defaults filled.

    Unknown names raise ``TypeError`` with the closest valid name; values outside their annotated
    range (``Fraction``, ``NonNegative``, ``Literal``, ``bool``) raise ``ValueError``/``TypeError``
    naming the parameter and the value.

    Example:
        >>> from lossbench.losses import tversky_loss
        >>> sig = inspect.signature(tversky_loss)
        >>> check_params("tversky", sig, {"fp_weight": 0.5})["fn_weight"]
        0.7
    """
    known = {n: p for n, p in signature.parameters.items() if p.kind is p.KEYWORD_ONLY}
    for name in params:
        if name not in known:
            raise TypeError(
                f"{owner}: unknown parameter {name!r}{suggest(name, known)} "
                f"(valid: {', '.join(known)})"
            )
    bound = {n: params.get(n, p.default) for n, p in known.items()}
    for name, value in bound.items():
        check_value(owner, name, value, known[name].annotation)
    return bound
