"""Writing a file so that a crash, a kill or a full disk leaves the previous file (or none),
never half of one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomic"]


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
