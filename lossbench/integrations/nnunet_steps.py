"""nnU-Net's own commands, run as child processes with their output in a log file each, one
step after another with a progress bar and the seconds spent per phase."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from tqdm import tqdm

__all__ = ["Steps", "nnunet_command", "run_step"]


def nnunet_command(name: str) -> str:
    """The path of one of nnU-Net's console scripts, beside this Python first.

    Raises:
        FileNotFoundError: no such command (the message says how to install nnU-Net).

    Example:
        >>> Path(nnunet_command("nnUNetv2_train")).name
        'nnUNetv2_train'
    """
    found = shutil.which(
        name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )
    if found is None:
        raise FileNotFoundError(
            f'nnU-Net\'s command {name} is not installed: pip install -e ".[nnunet]"'
        )
    return found


def run_step(command: list[str], log: Path, env: dict[str, str]) -> bool:
    """Run one nnU-Net command with its output in ``log``; whether it succeeded (on failure the
    log's last lines go to stderr).

    Example:
        >>> import tempfile
        >>> log = Path(tempfile.mkdtemp()) / "logs" / "hello.log"
        >>> run_step([sys.executable, "-c", "print('hello')"], log, dict(os.environ))
        True
        >>> log.read_text().splitlines()[-1]
        'hello'
    """
    import subprocess

    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as stream:
        stream.write(" ".join(command) + "\n")
        stream.flush()
        code = subprocess.call(command, stdout=stream, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        print(
            f"lossbench nnunet benchmark: {Path(command[0]).name} failed (exit {code}); "
            f"its log: {log}\n  " + "\n  ".join(tail),
            file=sys.stderr,
        )
    return code == 0


class Steps:
    """The steps of one benchmark: each run with its log in ``logs/<step>.log`` and the
    environment ``env``, counted on a progress bar of ``total`` steps (shown when
    ``progress``), its seconds added to its phase's and its name to :attr:`done` or
    :attr:`failed`.

    Example:
        >>> import tempfile
        >>> steps = Steps(Path(tempfile.mkdtemp()), dict(os.environ), total=2, progress=False)
        >>> steps.run("hello", "greeting", [sys.executable, "-c", "print('hello')"])
        True
        >>> steps.skip()
        >>> steps.close()
        >>> steps.done, steps.failed, list(steps.seconds)
        (['hello'], [], ['greeting'])
    """

    def __init__(self, logs: Path, env: dict[str, str], total: int, progress: bool) -> None:
        self.logs = logs
        self.env = env
        self.seconds: dict[str, float] = {}
        self.done: list[str] = []
        self.failed: list[str] = []
        self.bar = tqdm(total=total, desc="nnU-Net", unit="step", disable=not progress)

    def run(self, step: str, phase: str, command: list[str]) -> bool:
        """Run ``command`` as the step ``step`` of ``phase``; whether it succeeded."""
        self.bar.set_postfix_str(step)
        start = time.perf_counter()
        ok = run_step(command, self.logs / f"{step}.log", self.env)
        self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start
        (self.done if ok else self.failed).append(step)
        self.bar.update()
        return ok

    def skip(self) -> None:
        """Count a step that is not run: done before, or impossible after a failure."""
        self.bar.update()

    def close(self) -> None:
        """Close the progress bar."""
        self.bar.close()
