"""Which folders lossbench may write into or empty: its own, never anything else.

Every kind of folder lossbench writes carries a marker file that lossbench alone writes (a run's
``run.json``, or the ``[environment]`` table of a 0.1 run's ``config.toml``, a score's
``score.json``, ...). A command writes
into a folder only when it is new, empty (a lock file aside) or already holds that command's own
kind of output; ``run --force`` empties only a run folder, and only the paths that
:class:`lossbench.layout.RunLayout` names.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import lossbench

__all__ = ["MARKERS", "check_deletable", "check_output", "folder_kind", "holds", "require_run"]

MARKERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "run": ("run.json", ("device", "losses")),
    "nnU-Net benchmark": ("benchmark.json", ("settings", "versions")),
    "scores": ("score.json", ("rule",)),
    "nnU-Net dataset": ("dataset.json", ("lossbench",)),
    "phantom": ("phantom.json", ("lossbench",)),
    "report": ("summary.json", ("protocol", "metrics")),
    "comparison": ("compare.json", ("runs", "metrics")),
}
"""Kind of folder -> (marker file, keys lossbench writes into it), in the order a folder's kind
is decided (a run folder also holds a report's ``summary.json``)."""

_LEGACY_RUN = ("config.toml", ("environment",))
"""The marker of a run folder made by lossbench 0.1, which had no ``run.json``."""

_LOCK = ".lock"


def _marker_keys(path: Path) -> set[str]:
    """The top-level keys (tables) of a JSON or TOML marker file; empty when unreadable."""
    try:
        text = path.read_text()
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover
                import tomli as tomllib
            data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError):
        return set()
    return set(data) if isinstance(data, dict) else set()


def folder_kind(folder: str | Path) -> str | None:
    """The kind of lossbench output a folder holds (a key of :data:`MARKERS`), or None when it
    holds no marker of lossbench's.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> folder_kind(folder) is None
        True
        >>> _ = (folder / "score.json").write_text('{"rule": {}}')
        >>> folder_kind(folder)
        'scores'
    """
    root = Path(folder)
    markers = list(MARKERS.items())
    for kind, (name, keys) in [markers[0], ("run", _LEGACY_RUN), *markers[1:]]:
        marker = root / name
        if marker.is_file() and set(keys) <= _marker_keys(marker):
            return kind
    return None


def holds(folder: Path, limit: int = 4) -> str:
    """What a folder holds, for a message: ``"a.txt, data/ and 3 more"`` (folders end in ``/``).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "notes.txt").write_text(""), (folder / "data").mkdir()
        >>> holds(folder)
        'data/, notes.txt'
    """
    names = sorted(
        e.name + ("/" if e.is_dir() else "") for e in folder.iterdir() if e.name != _LOCK
    )
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _entries(folder: Path) -> list[Path]:
    return [e for e in folder.iterdir() if e.name != _LOCK]


def _related(folder: Path, other: Path) -> str | None:
    """How ``folder`` and ``other`` overlap: ``"is"``, ``"lies inside"``, ``"contains"``."""
    a, b = folder.resolve(), other.resolve()
    if a == b:
        return "is"
    if b in a.parents:
        return "lies inside"
    if a in b.parents:
        return "contains"
    return None


def check_output(
    folder: str | Path,
    kind: str,
    *,
    also: Sequence[str] = (),
    inputs: Sequence[tuple[str, str | Path]] = (),
) -> Path:
    """Refuse to write a ``kind`` of output into ``folder`` unless the folder is new, empty (a
    lock file aside), or holds lossbench's own ``kind`` (or one of ``also``); returns the folder.

    Args:
        folder: where the output goes.
        kind: a key of :data:`MARKERS`.
        also: other kinds the folder may hold (a benchmark folder holds its own scores).
        inputs: ``(what, path)`` of the folders the command reads (a reference, a dataset):
            the output may not be one of them, lie inside one, or contain one.

    Raises:
        ValueError: the path is a file, the folder holds something else (its entries named),
            or it overlaps an input.

    Example:
        >>> import tempfile
        >>> home = Path(tempfile.mkdtemp()); _ = (home / ".bashrc").write_text("")
        >>> check_output(home, "scores")
        Traceback (most recent call last):
        ...
        ValueError: ... holds .bashrc and no lossbench scores (score.json): ...
    """
    path = Path(folder)
    for what, source in inputs:
        relation = _related(path, Path(source))
        if relation is not None:
            raise ValueError(
                f"{path} {relation} the {what} {source}: lossbench never writes its {kind} into "
                "the folders it reads; choose another folder"
            )
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file, not a folder: give a folder for the {kind}")
    if not path.is_dir() or not _entries(path):
        return path
    found = folder_kind(path)
    if found == kind or found in also:
        return path
    marker = MARKERS[kind][0]
    held = f"a lossbench {found}" if found else f"{holds(path)} and no lossbench {kind} ({marker})"
    raise ValueError(
        f"{path} holds {held}: lossbench writes {kind} only into a new or empty folder, or over "
        f"its own earlier {kind}; choose another folder"
    )


def require_run(folder: str | Path) -> Path:
    """``folder`` as a :class:`~pathlib.Path` when it is a run folder (lossbench's own
    ``run.json``, or a 0.1 run's ``config.toml``).

    Raises:
        FileNotFoundError: it is not (a file, a missing folder, or a folder without that marker).

    Example:
        >>> import tempfile
        >>> require_run(tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        FileNotFoundError: ... is not a lossbench run folder ...
    """
    path = Path(folder)
    if folder_kind(path) != "run":
        what = (
            "a file"
            if path.is_file()
            else "no folder"
            if not path.exists()
            else "no run.json written by lossbench"
        )
        raise FileNotFoundError(
            f"{path} is not a lossbench run folder ({what}); create one with `lossbench run "
            "--out FOLDER` (or --plan-only)"
        )
    return path


def _protected(data: Path | None) -> list[tuple[str, Path]]:
    """Folders ``run --force`` never empties, nor any folder holding one of them."""
    package = Path(lossbench.__file__).resolve().parent
    places = [("lossbench's package", package)]
    if any((package.parent / name).exists() for name in ("pyproject.toml", ".git")):
        places.append(("the lossbench repository", package.parent))
    if data is not None:
        places.append(("the data folder", data))
    return places


def check_deletable(folder: str | Path, data: str | Path | None = None) -> Path:
    """Refuse ``run --force`` on ``folder`` unless it is a lossbench run folder that is neither
    the home folder, a filesystem root nor the current directory, and holds neither ``data``
    (the run's dataset folder), lossbench's package nor its repository; returns the folder.

    Raises:
        ValueError: naming the folder and what it is or holds.

    Example:
        >>> check_deletable(Path.home())
        Traceback (most recent call last):
        ...
        ValueError: --force refused: ... is your home folder; ...
    """
    path = Path(folder)
    resolved = path.resolve()
    why = None
    if resolved == Path.home().resolve():
        why = "is your home folder"
    elif resolved.parent == resolved:
        why = "is a filesystem root"
    elif resolved == Path.cwd().resolve():
        why = "is the current directory"
    else:
        for what, place in _protected(None if data is None else Path(data)):
            if _related(path, place) in ("is", "contains"):
                why = f"holds {what} ({place})"
                break
    if why is None and path.is_dir() and _entries(path) and folder_kind(path) != "run":
        why = f"is not a lossbench run folder (it holds {holds(path)})"
    if why is not None:
        raise ValueError(
            f"--force refused: {path} {why}; --force empties only lossbench run folders, and "
            "only the paths a run writes (see RunLayout.written)"
        )
    return path
