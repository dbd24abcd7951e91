"""The run folder's lock: a live holder is refused, a dead one on this host is taken over with a
warning, one on another host is refused, and a clean release leaves the folder free."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from lossbench._lock import RunFolderInUseError, hold


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A process that holds ``tmp_path / ".lock"`` until it is killed."""
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from lossbench._lock import hold
        with hold(Path({str(tmp_path / ".lock")!r}), Path({str(tmp_path)!r})):
            print("held", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "held\n"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return proc.pid


def test_a_live_holder_is_refused(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    with (
        pytest.raises(RunFolderInUseError, match="wait for it to finish") as info,
        hold(tmp_path / ".lock", tmp_path),
    ):
        pass
    assert f"pid {holder.pid} on host {socket.gethostname()}" in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_a_holder_killed_while_holding_is_taken_over(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock = tmp_path / ".lock"
    assert lock.read_text() == f"pid={holder.pid} host={socket.gethostname()}\n"
    with (
        pytest.warns(UserWarning, match=f"took over the stale lock .* pid {holder.pid} on host"),
        hold(lock, tmp_path),
    ):
        assert lock.read_text() == f"pid={os.getpid()} host={socket.gethostname()}\n"


def test_a_stale_line_of_this_host_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    pid = _dead_pid()
    lock.write_text(f"pid={pid} host={socket.gethostname()}\n")
    with (
        pytest.warns(UserWarning, match=f"took over the stale lock of {tmp_path}: pid {pid} "),
        hold(lock, tmp_path),
    ):
        assert lock.read_text() == f"pid={os.getpid()} host={socket.gethostname()}\n"
    assert lock.read_text() == ""


def test_a_holder_on_another_host_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    lock.write_text("pid=123 host=elsewhere.invalid\n")
    with pytest.raises(RunFolderInUseError) as info, hold(lock, tmp_path):
        pass
    assert "pid 123 on host elsewhere.invalid" in str(info.value)
    assert f"delete {lock} and rerun" in str(info.value)
    assert lock.read_text() == "pid=123 host=elsewhere.invalid\n"


def test_a_released_lock_is_empty_and_free(tmp_path: Path) -> None:
    lock = tmp_path / "new" / ".lock"
    with hold(lock, tmp_path):
        assert lock.read_text() == f"pid={os.getpid()} host={socket.gethostname()}\n"
    assert lock.read_text() == ""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with hold(lock, tmp_path):
            pass


def test_a_second_hold_in_the_same_process_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    with hold(lock, tmp_path):
        with pytest.raises(RunFolderInUseError, match=f"pid {os.getpid()} on host"):
            with hold(lock, tmp_path):
                pass
        assert lock.read_text() == f"pid={os.getpid()} host={socket.gethostname()}\n"
    assert lock.read_text() == ""
