"""Writing a file so that a crash, a kill or a full disk leaves the previous file (or none),
never half of one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["write_atomic", "write_csv", "write_json", "write_text"]


def write_atomic(path: Path, write: Callable[[Path], object], keep_ending: bool = False) -> Path:
    """Call ``write(temporary)`` on a file beside ``path``, then rename it into place; the
    temporary is removed whatever happens. Returns ``path``.

    The temporary is ``<name>.partial``, or ``.partial-<name>`` with ``keep_ending`` for writers
    that choose the format from the file's ending (``.nii.gz``).

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a.txt"
        >>> write_atomic(target, lambda p: p.write_text("done")).read_text()
        'done'
    """
    partial = path.with_name(f".partial-{path.name}" if keep_ending else f"{path.name}.partial")
    try:
        write(partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` with :func:`write_atomic`; returns ``path``."""
    return write_atomic(path, lambda partial: partial.write_text(text))


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (no NaN allowed) with :func:`write_atomic`.

    Example:
        >>> import tempfile
        >>> json.loads(write_json(Path(tempfile.mkdtemp()) / "a.json", {"a": 1}).read_text())
        {'a': 1}
    """
    return write_text(path, json.dumps(data, indent=1, allow_nan=False) + "\n")


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as CSV (no index) with :func:`write_atomic`: a crash or a full disk
    leaves the previous table (or none), never half a table."""
    return write_atomic(path, lambda partial: frame.to_csv(partial, index=False))
