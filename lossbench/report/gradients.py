"""The report's gradient anatomy: where each loss put its gradient during training, from the
probed steps of its trials' ``history.csv`` (:mod:`lossbench.probe`)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from lossbench.probe import PROBE_COLUMNS

__all__ = ["LABELS", "gradient_means", "gradient_section", "probed_histories"]

LABELS = {
    "grad_lesion": "on lesion voxels",
    "grad_fp": "on false positives",
    "grad_fn": "on false negatives",
    "grad_top90": "voxels carrying 90%",
}
"""Display names of the probe columns."""


def _probed(history: pd.DataFrame) -> pd.DataFrame:
    """The probed steps of a history (none in a history written before probes)."""
    if not set(PROBE_COLUMNS) <= set(history.columns):
        return history.iloc[0:0]
    return history.dropna(subset=list(PROBE_COLUMNS))


def gradient_means(histories: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per loss, the mean of each gradient share over the probed steps of the last half of
    training; losses without probes are left out.

    Example:
        >>> h = pd.DataFrame({"iteration": [1, 2, 3, 4], "grad_lesion": [0.1, None, 0.5, 0.7],
        ...     "grad_fp": 0.1, "grad_fn": 0.2, "grad_top90": 0.3})
        >>> float(gradient_means({"a": h}).loc["a", "grad_lesion"])  # steps 3 and 4
        0.6
    """
    rows = {}
    for name, history in histories.items():
        probed = _probed(history)
        late = probed[probed["iteration"] > history["iteration"].max() / 2]
        if len(late):
            rows[name] = late[list(PROBE_COLUMNS)].astype(float).mean()
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(PROBE_COLUMNS))


def gradient_section(histories: Mapping[str, pd.DataFrame]) -> tuple[str, str, pd.DataFrame] | None:
    """The "Gradient anatomy" section (title, text, table of shares in percent), or None for a
    run without probes."""
    means = gradient_means(histories)
    if means.empty:
        return None
    table = (100 * means).round(1).sort_values("grad_lesion", ascending=False)
    table.columns = [f"% {LABELS[c]}" for c in PROBE_COLUMNS]
    table.index.name = "loss"
    text = (
        "Where each loss put the L1 mass of its gradient with respect to the logits, from the "
        "probed training steps (`train.probe_every`), averaged over the last half of training "
        "(first seed): the share on lesion voxels (the background has the rest), on false "
        "positives (p > 0.5, no lesion) and false negatives (p < 0.5, lesion), and the share of "
        "voxels that carry 90% of it. Sorted by the lesion share."
    )
    return ("Gradient anatomy", text, table)


def probed_histories(histories: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each loss's probed steps, for :func:`lossbench.report.figures.gradient_curves`; losses
    without probes left out.

    Example:
        >>> h = pd.DataFrame({"iteration": [1, 2], "grad_lesion": [0.2, None], "grad_fp": 0.1,
        ...     "grad_fn": 0.2, "grad_top90": 0.3})
        >>> len(probed_histories({"a": h})["a"])
        1
    """
    probed = {name: _probed(h) for name, h in sorted(histories.items())}
    return {name: h for name, h in probed.items() if len(h)}
