"""What a prepared run folder gives each of its trials, read from the folder: its
configuration as asked (``config.toml``) and as resolved (``run.json``, ``splits.json``), and
its grid of final trials (losses x seeds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lossbench._folders import require_run
from lossbench.config import Config, Resolved, from_toml, read_resolved, resolve_losses, validate
from lossbench.layout import RunLayout

__all__ = ["RunInputs", "read_run", "trial_grid"]


@dataclass(frozen=True)
class RunInputs:
    """What a prepared run folder gives each of its trials: the configuration as asked
    (``config.toml``, validated) and as resolved (``run.json``, ``splits.json``)."""

    layout: RunLayout
    config: Config
    resolved: Resolved

    def grid(self) -> list[tuple[str, int]]:
        """The run's final trials, seed by seed, in the resolved loss order (a tuned run's
        tuning trials come before them: :func:`lossbench.tuning.all_trials`)."""
        return trial_grid(self.config, self.resolved.losses)


def read_run(out: str | Path) -> RunInputs:
    """Read a prepared run folder's configuration and resolved record.

    Raises:
        FileNotFoundError: ``out`` is not a run folder, or was not prepared by this version.
        ValueError: its ``config.toml`` holds a value :func:`lossbench.config.validate` refuses.
    """
    layout = RunLayout(require_run(out))
    return RunInputs(layout, validate(from_toml(layout.config)), read_resolved(layout))


def trial_grid(config: Config, losses: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """The run's trials as ``(loss, seed)`` pairs, seed by seed: the order of ``lossbench trial
    --index``. ``losses`` are the resolved ones (``run.json``); by default ``config.losses``
    expanded.

    Example:
        >>> from lossbench.config import preset
        >>> config = preset("quick")
        >>> config.losses, config.seeds = ["dice", "ce"], [0, 1]
        >>> trial_grid(config)
        [('dice', 0), ('ce', 0), ('dice', 1), ('ce', 1)]
    """
    names = resolve_losses(config.losses) if losses is None else list(losses)
    return [(loss, seed) for seed in config.seeds for loss in names]
