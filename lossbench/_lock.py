"""The run folder's lock: one driver per run folder.

The lock is an advisory ``flock`` on a lock file that names its holder (``pid=<pid>
host=<hostname>``). The kernel releases the flock when its holder dies, so a killed run never
blocks the folder; the line such a holder leaves behind on this host is taken over with a
warning. A holder on another host is never taken over silently: the flock is not reliable across
hosts on every shared file system, so its line is trusted until someone deletes the lock file.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO

if sys.platform != "win32":
    import fcntl

__all__ = ["RunFolderInUseError", "hold"]


@contextlib.contextmanager
def hold(lock: Path, folder: Path) -> Iterator[None]:
    """Hold the lock file ``lock`` of run folder ``folder`` for the duration of the with-block.

    While held, the file holds one line ``pid=<pid> host=<hostname>``; on release it is emptied,
    not deleted (deleting a flocked file races with a second process that has it open).

    Raises:
        RunFolderInUseError: A live process holds the lock, or the file names a holder on another
            host (delete the file once that run is known to have stopped).

    Warns:
        UserWarning: The file names a holder on this host that is gone (killed without releasing);
            its lock is taken over.

    Example:
        >>> import shutil, tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> with hold(folder / ".lock", folder):  # doctest: +ELLIPSIS
        ...     print((folder / ".lock").read_text(), end="")
        pid=... host=...
        >>> (folder / ".lock").read_text()
        ''
        >>> shutil.rmtree(folder)
    """
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a+") as handle:
        stale = _acquire(handle, lock, folder)
        if stale is not None:
            pid, host = stale
            warnings.warn(
                f"took over the stale lock of {folder}: pid {pid} on host {host} is gone",
                stacklevel=3,
            )
        try:
            _write(handle, f"pid={os.getpid()} host={socket.gethostname()}\n")
            os.fsync(handle.fileno())
            yield
        finally:
            _write(handle, "")
            if sys.platform != "win32":
                fcntl.flock(handle, fcntl.LOCK_UN)


def _acquire(handle: IO[str], lock: Path, folder: Path) -> tuple[str, str] | None:
    """Take the lock of the open ``handle``; return the stale holder taken over, or None.

    A refused holder's flock is released when :func:`hold` closes the file on the way out.
    """
    if sys.platform != "win32":
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, host = _holder(handle) or ("?", "?")
            raise RunFolderInUseError(
                f"{folder} is in use by another lossbench run (pid {pid} on host {host}); wait for "
                "it to finish or stop it, then rerun to resume"
            ) from None
    holder = _holder(handle)
    # Without flock (Windows) no holder is known to be gone, and os.kill(pid, 0) would
    # terminate it there: any holder line is refused.
    if holder is None or (sys.platform != "win32" and holder[1] == socket.gethostname()):
        return holder
    pid, host = holder
    raise RunFolderInUseError(
        f"{folder} is in use by another lossbench run (pid {pid} on host {host}); if that run is "
        f"no longer running, delete {lock} and rerun"
    )


def _holder(handle: IO[str]) -> tuple[str, str] | None:
    """The ``(pid, host)`` the lock file names: None if it is empty, ``"?"`` where unreadable.

    A bare pid (the lock line of lossbench 0.1, which relied on the flock alone and never
    emptied it) names a process of this host.
    """
    handle.seek(0)
    line = handle.read().strip()
    if not line:
        return None
    if line.isdigit():
        return line, socket.gethostname()
    match = re.fullmatch(r"pid=(\S+) host=(\S+)", line)
    return (match[1], match[2]) if match else ("?", "?")


def _write(handle: IO[str], text: str) -> None:
    """Replace the lock file's content with ``text`` and flush it."""
    handle.seek(0)
    handle.truncate()
    handle.write(text)
    handle.flush()


class RunFolderInUseError(RuntimeError):
    """Another lossbench process holds the run folder's lock."""
