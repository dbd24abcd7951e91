"""``lossbench compare RUN_A RUN_B [...]``: how well the loss rankings of several runs agree
(fine-tuned against from scratch, one dataset against another, one architecture against
another)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from lossbench._folders import check_output
from lossbench.metrics.facts import facts
from lossbench.report._io import load_checked, read_config
from lossbench.report.verdict import describe_protocol, no_tau
from lossbench.stats import Comparison, Scores, Tau, check_nan_policy, run_agreement

__all__ = ["compare_runs", "comparison_summary"]


def _json(value: float) -> float | None:
    return None if pd.isna(value) else float(value)


def comparison_summary(
    results: pd.DataFrame,
    other: pd.DataFrame,
    name: str,
    protocol: str,
    metrics: Sequence[str],
    nan_policy: str = "worst",
) -> Comparison:
    """Rank agreement of one run with ``other`` (trained under ``protocol``, in words), for the
    verdict and ``summary.json``: Kendall's tau per metric both tables have; ``tau`` and ``p``
    are None with fewer than 2 methods in common.

    Example:
        >>> a = pd.DataFrame({"loss": ["x", "y", "z"], "seed": 0, "case_id": "1",
        ...     "ref_empty": False, "dice": [0.9, 0.5, 0.1]})
        >>> comparison_summary(a, a, "same", "copy", ["dice"]).tau["dice"].tau
        1.0
    """
    taus = {}
    for metric in metrics:
        if metric in results.columns and metric in other.columns:
            pair = {
                k: Scores.from_results(t, metric, nan_policy)
                for k, t in (("a", results), ("b", other))
            }
            row = run_agreement(pair).taus.iloc[0]
            taus[metric] = Tau(_json(row["tau"]), _json(row["p"]), int(row["n"]))
    return Comparison(name, protocol, taus)


def _names(run_dirs: Sequence[Path]) -> list[str]:
    """Folder names, or the paths as given where two folders share a name."""
    names = [p.name or str(p) for p in run_dirs]
    return names if len(set(names)) == len(names) else [str(p) for p in run_dirs]


def _metric(
    runs: dict[str, pd.DataFrame], metric: str, nan_policy: str, unit: str
) -> tuple[list[str], dict[str, Any]]:
    """One metric's markdown section and JSON entry: tau per pair of runs, ranks and means."""
    scores = {n: Scores.from_results(t, metric, nan_policy) for n, t in runs.items()}
    ranks, taus = run_agreement(scores)
    means = pd.DataFrame(
        {n: pd.Series(s.means(), index=list(s.methods)) for n, s in scores.items()}
    )
    fact = facts(metric)
    table = pd.DataFrame(index=ranks.index.rename(unit))
    for name in runs:
        table[f"rank {name}"] = ranks[name].map(lambda v: "" if pd.isna(v) else f"{v:g}")
        shown = means[name].reindex(ranks.index)
        table[f"mean {name}"] = shown.map(lambda v, f=fact: "" if pd.isna(v) else f.format(v))
    lines = [
        f"- {row.a} vs {row.b}: "
        + (
            no_tau(row.n)
            if pd.isna(row.tau)
            else f"tau = {row.tau:.2f} (p = {row.p:.2g}, {row.n} losses)"
        )
        for row in taus.itertuples()
    ]
    rendered = tabulate(
        table, headers="keys", tablefmt="github", stralign="right", disable_numparse=True
    )
    entry = {
        "higher_is_better": fact.higher_is_better,
        "tau": [
            {"a": r.a, "b": r.b, "n": int(r.n), "tau": _json(r.tau), "p": _json(r.p)}
            for r in taus.itertuples()
        ],
        "ranks": {n: {m: _json(v) for m, v in ranks[n].items()} for n in runs},
    }
    return [f"## {fact.label}", "", *lines, "", rendered, ""], entry


def _read_runs(paths: list[Path], metrics: Sequence[str]) -> tuple[dict[str, pd.DataFrame], str]:
    """Each run's checked results table, under its display name, and what the first compares."""
    if len(paths) < 2:
        raise ValueError(f"compare needs at least two run folders, got {len(paths)}")
    checked = [load_checked(path) for path in paths]
    runs = {name: table for name, (table, _) in zip(_names(paths), checked, strict=True)}
    for metric in metrics:
        lacking = [n for n, t in runs.items() if metric not in t.columns]
        if lacking:
            raise ValueError(f"metric {metric!r} is not in the results of {', '.join(lacking)}")
    return runs, checked[0][1]


def compare_runs(
    run_dirs: Sequence[str | Path],
    metrics: Sequence[str] = ("dice", "hd95", "lesion_f1"),
    nan_policy: str = "worst",
    out_dir: str | Path | None = None,
) -> tuple[str, dict[str, Any]]:
    """Per metric, Kendall's tau between the loss rankings of every pair of runs, with its
    p-value, and each loss's rank and mean in each run side by side: means over the cases with
    lesions, seeds averaged, ``nan_policy`` for missing distances; tau over the losses both runs
    hold (:func:`lossbench.stats.run_agreement`).

    Args:
        run_dirs: two or more run folders (each holding ``results.parquet`` or ``.csv``).
        metrics: the metrics to compare.
        nan_policy: ``"worst"`` or ``"exclude"``.
        out_dir: when given, ``compare.md`` and ``compare.json`` are written there: a new or
            empty folder, or an earlier comparison's.

    Returns:
        ``(markdown, json-ready dictionary)``.

    Raises:
        ValueError: fewer than two runs, an unknown policy, a metric no run has, a results
            table holding a value no metric can take, or an ``out_dir`` that holds something
            else.
        FileNotFoundError: a folder without results.
    """
    check_nan_policy(nan_policy)
    if out_dir is not None:
        check_output(out_dir, "comparison")
    paths = [Path(p) for p in run_dirs]
    runs, unit = _read_runs(paths, metrics)
    named = dict(zip(runs, paths, strict=True))
    protocols = {n: describe_protocol(read_config(p)).text for n, p in named.items()}
    runs_json = [{"name": n, "path": str(p), "protocol": protocols[n]} for n, p in named.items()]
    data: dict[str, Any] = {"nan_policy": nan_policy, "runs": runs_json, "metrics": {}}
    md = ["# Rank agreement between runs", ""]
    md += [f"- **{n}** ({p}): {protocols[n]}" for n, p in named.items()]
    explained = (
        f"Losses ranked by their mean over the cases with lesions (seeds averaged; NaN policy "
        f"{nan_policy}); 1 = best. Kendall's tau-b over the losses both runs hold (1 = same "
        "order, 0 = unrelated, -1 = reversed), two-sided p-value."
    )
    md += ["", explained, ""]
    for metric in metrics:
        lines, data["metrics"][metric] = _metric(runs, metric, nan_policy, unit)
        md += lines
    markdown = "\n".join(md)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        # compare.json first: it marks the folder as a comparison's (lossbench._folders)
        (out / "compare.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
        (out / "compare.md").write_text(markdown)
    return markdown, data
