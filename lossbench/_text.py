"""Wording shared by every error message (the closest valid name, a list of allowed values), and
the splitting of a list of loss variants."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["either", "split_losses", "suggest"]


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


def split_losses(text: str) -> list[str]:
    """Split a ``--losses`` value on the commas (or spaces) outside parentheses.

    Raises:
        ValueError: unbalanced parentheses.

    Example:
        >>> split_losses("dice, hytver(beta=0.8),hytver(alpha=0.5,gamma=0.3)")
        ['dice', 'hytver(beta=0.8)', 'hytver(alpha=0.5,gamma=0.3)']
    """
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise ValueError(f"unbalanced parentheses in {text!r}")
        if depth == 0 and (char == "," or char.isspace()):
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise ValueError(f"unbalanced parentheses in {text!r}")
    items.append("".join(current))
    return [item for item in items if item]
