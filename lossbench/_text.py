"""Wording shared by every error message: the closest valid name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["either", "suggest"]


def suggest(value: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""`` if none is close.

    Example:
        >>> suggest("tverski", ["dice", "tversky"])
        "; did you mean 'tversky'?"
    """
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def either(values: Iterable[object]) -> str:
    """The allowed values of a setting, for a message: ``"'a', 'b' or 'c'"``.

    Example:
        >>> either(["worst", "exclude"])
        "'worst' or 'exclude'"
    """
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
