"""Assemble the report of a run: ``report.md``, ``report.html`` and ``figures/``."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from lossbench.report import figures
from lossbench.report._io import load_checked, read_config
from lossbench.report.compare import comparison_summary
from lossbench.report.tables import (
    EXTENDED_METRICS,
    LABELS,
    MAIN_METRICS,
    benchmark_ms,
    cost_table,
    cv_table,
    fp_table,
    main_table,
    paired_table,
    policy_note,
    rank_table,
)
from lossbench.report.verdict import DAGGER, VERDICT_METRICS, describe_protocol, verdict_markdown
from lossbench.stats import (
    check_nan_policy,
    critical_difference_groups,
    friedman,
    pairwise_tests,
    summarise,
)

__all__ = ["build_report"]

PROTOCOL = (
    "Aggregation protocol (MSSEG-2's): segmentation and lesion-detection metrics are averaged "
    "over the test cases that have reference lesions; cases without are summarised separately "
    "by their false-positive lesions (Table 4). With several seeds a case's value is first "
    "averaged over seeds, and the seed-to-seed spread of the mean Dice is its own column. "
    "Brackets hold 95% percentile bootstrap intervals (10,000 resamples of cases, and of the "
    "seeds within each case when there are several; seeded). Bold marks the best mean per "
    "column. After a value, (k worst) counts the cases given the worst value, (-k) those left "
    "out."
)

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1rem auto;
max-width:70rem;padding:0 1rem;line-height:1.45;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f2f2f2;cursor:pointer}td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto}pre{background:#f7f7f7;padding:.5rem;overflow-x:auto;font-size:.8rem}
"""

_SORT = """
document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener('click',
function(){var t=th.closest('table'),b=t.tBodies[0],r=Array.from(b.rows),d=th.dataset.d==='a'?-1:1;
th.dataset.d=d===1?'a':'d';var v=function(x){var s=x.cells[i].innerText,n=parseFloat(s);
return isNaN(n)?s:n};r.sort(function(a,c){var x=v(a),y=v(c);return x<y?-d:x>y?d:0});
r.forEach(function(x){b.appendChild(x)})})});
"""


def _md(frame: pd.DataFrame) -> str:
    return tabulate(frame, headers="keys", tablefmt="github", stralign="right",
                    disable_numparse=True)  # fmt: skip


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["loss", *frame.columns])
    rows = []
    for index, row in frame.iterrows():
        cells = [f"<td>{html.escape(str(index))}</td>"]
        for value in row:
            text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(str(value)))
            cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    body = "".join(rows)
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figures(run_dir: Path, results: pd.DataFrame, shown: pd.DataFrame, baseline: str,
             out_dir: Path, nan_policy: str) -> dict[str, Path]:  # fmt: skip
    """Boxplots (display names), training curves and the qualitative figure (run names)."""
    out = out_dir / "figures"
    out.mkdir(parents=True, exist_ok=True)
    made = {"Per-case metrics": figures.boxplots(shown, out / "boxplots.png",
                                                 nan_policy=nan_policy)}  # fmt: skip
    seed = int(results["seed"].min())
    rename = dict(zip(results["loss"], shown["loss"], strict=True))
    histories = {}
    for loss in sorted(results["loss"].unique()):
        path = run_dir / "trials" / f"{loss}-seed{seed}" / "history.csv"
        if path.exists():
            histories[rename[loss]] = pd.read_csv(path)
    if histories:
        made["Training loss"] = figures.training_curves(histories, out / "training.png")
    qualitative = _qualitative(run_dir, results, baseline, seed, out / "qualitative.png")
    if qualitative is not None:
        made["Worst case of the baseline loss"] = qualitative
    return made


def _qualitative(run_dir: Path, results: pd.DataFrame, baseline: str, seed: int,
                 path: Path) -> Path | None:  # fmt: skip
    import nibabel as nib

    from lossbench.data.msseg2 import FILES

    lesion = results[~results["ref_empty"].astype(bool) & (results["seed"] == seed)]
    if baseline not in set(lesion["loss"]):
        return None
    base_rows = lesion[lesion["loss"] == baseline]
    case_id = str(base_rows.loc[base_rows["dice"].idxmin(), "case_id"])
    best = lesion.groupby("loss")["dice"].mean().idxmax()
    shown = list(dict.fromkeys([baseline, "hytver", best]))
    folder = run_dir / "data" / "test" / case_id
    predictions = {}
    for loss in shown:
        file = run_dir / "trials" / f"{loss}-seed{seed}" / "predictions" / f"{case_id}.nii.gz"
        if file.exists():
            image: Any = nib.load(str(file))
            predictions[loss] = np.asarray(image.dataobj).astype(bool)
    if not folder.is_dir() or not predictions:
        return None
    volumes = [_read(folder / FILES[k]) for k in ("baseline", "followup", "label")]
    if any(p.shape != volumes[2].shape for p in predictions.values()):
        return None  # predictions on a resampled grid: not comparable slice by slice
    return figures.qualitative(volumes[0], volumes[1], volumes[2].astype(bool), predictions, path,
                               title=f"case {case_id}")  # fmt: skip


def _read(path: Path) -> np.ndarray:
    import nibabel as nib

    image: Any = nib.load(str(path))
    return np.asarray(image.dataobj)


def _inline(text: str) -> str:
    """Markdown bold and code spans of the verdict as HTML."""
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _html_text(markdown: str) -> str:
    """The verdict's paragraphs and bullet lists as HTML."""
    parts, items = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("- "):
            items.append(f"<li>{_inline(line[2:])}</li>")
            continue
        if items:
            parts.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if line:
            parts.append(f"<p>{_inline(line)}</p>")
    return "".join(parts)


def build_report(
    run_dir: str | Path,
    baseline: str = "dice",
    n_resamples: int = 10_000,
    out_dir: str | Path | None = None,
    bench: str | Path | None = None,
    nan_policy: str | None = None,
    compare: Sequence[str | Path] = (),
) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.html``, ``summary.json`` and ``figures/`` for a finished (or
    partial) run.

    The report opens with the verdict (:func:`lossbench.report.verdict.verdict_markdown`);
    ``summary.json`` holds its numbers (:func:`lossbench.stats.summarise`) plus the protocol and
    any comparison with other runs.

    Args:
        run_dir: the run folder (must hold ``results.parquet`` or ``results.csv``).
        baseline: the reference loss of the paired comparison of Table 3.
        n_resamples: bootstrap resamples of Table 1 and of the rank stability.
        out_dir: where to write (default ``run_dir``); figures that need the run's images
            still read them from ``run_dir``.
        bench: a pytest-benchmark JSON of ``benchmarks/test_loss_speed.py``, whose medians join
            Table 5.
        nan_policy: ``"worst"`` or ``"exclude"`` for distances missing because exactly one mask
            is empty; default the run's ``report.nan_policy``, else ``"worst"``.
        compare: other run folders (e.g. the same losses from scratch) whose rankings the
            verdict sets against this run's (Kendall's tau).

    Returns:
        ``(markdown path, html path)``.

    Raises:
        FileNotFoundError: no results table in ``run_dir`` or in a ``compare`` folder.
        ValueError: the table lacks a required column (file and column named), has no rows,
            or ``nan_policy`` is unknown.
    """
    run_dir = Path(run_dir)
    out_dir = run_dir if out_dir is None else Path(out_dir)
    config = read_config(run_dir)
    policy = check_nan_policy(
        nan_policy if nan_policy is not None else config.report.nan_policy if config else "worst"
    )
    results = load_checked(run_dir)
    others = {Path(other): load_checked(Path(other)) for other in compare}
    summary = summarise(results, nan_policy=policy, n_resamples=n_resamples)
    summary["protocol"] = describe_protocol(config)
    summary["comparisons"] = [
        comparison_summary(
            results, table, str(path), describe_protocol(read_config(path)), VERDICT_METRICS, policy
        )
        for path, table in others.items()
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")

    mark = summary["protocol"]["pretrain_loss"]
    losses = sorted(results["loss"].unique())
    rename = {mark: f"{mark} {DAGGER}"} if mark in losses else {}  # display names
    shown = results.assign(loss=results["loss"].replace(rename))
    shown_baseline = rename.get(baseline, baseline)
    n_lesion = summary["n_lesion_cases"]
    note = policy_note(results, MAIN_METRICS, policy)
    dagger = (f" {DAGGER} {mark}: the loss of the shared pretraining, from which every loss "
              "started." if mark in losses else "")  # fmt: skip
    sections: list[tuple[str, str, pd.DataFrame | None]] = [
        ("Verdict", verdict_markdown(summary), None),
        ("Table 1: mean metrics per loss", f"{PROTOCOL} {note}{dagger}",
         main_table(shown, MAIN_METRICS, n_resamples, nan_policy=policy)),
        ("Table 1b: more metrics", f"NaN policy: {policy} (no distance in this table).{dagger}",
         main_table(shown, EXTENDED_METRICS, n_resamples, nan_policy=policy)),
        ("Table 2: coefficient of variation across cases", "Sample SD (ddof = 1) over the mean, "
         f"cases with lesions; lower is more stable. NaN policy: {policy} (no distance in this "
         f"table).{dagger}", cv_table(shown, nan_policy=policy)),
    ]  # fmt: skip
    if baseline in losses and len(losses) > 1:
        n_pairs = len(losses) * (len(losses) - 1) // 2
        text = ("Hodges-Lehmann estimate of the per-case difference (loss minus baseline; the "
                "median of the Walsh averages) with its distribution-free 95% CI, and the "
                f"two-sided Wilcoxon signed-rank p-value, Holm-corrected over all {n_pairs} "
                f"pairs of losses. Per-case values are averaged over seeds. "
                f"{policy_note(results, ('hd95',), policy)}{dagger}")  # fmt: skip
        sections.append((f"Table 3: paired comparison with {shown_baseline}", text,
                         paired_table(shown, shown_baseline, nan_policy=policy)))  # fmt: skip
    panels: dict[str, tuple[pd.Series, list[list[str]]]] = {}
    if len(losses) >= 3 and n_lesion >= 2:
        ranked = {m: friedman(shown, m, policy) for m in VERDICT_METRICS if m in shown.columns}
        frame, sentence = rank_table(ranked)
        sections.append(("Mean ranks", "Mean rank of each loss over the cases with lesions "
                         f"(1 = best). {sentence} {policy_note(results, ('hd95',), policy)}"
                         f"{dagger}", frame))  # fmt: skip
        for metric, (ranks, _) in ranked.items():
            groups = critical_difference_groups(ranks.index, pairwise_tests(shown, metric, policy))
            panels[LABELS.get(metric, metric)] = (ranks, groups)
    if results["ref_empty"].astype(bool).any():
        sections.append(("Table 4: false positives on lesion-free cases",
                         f"NaN policy: {policy} (no distance in this table).{dagger}",
                         fp_table(shown)))  # fmt: skip
    bench_ms = benchmark_ms(json.loads(Path(bench).read_text())) if bench else None
    bench_ms = {rename.get(k, k): v for k, v in bench_ms.items()} if bench_ms else None
    sections.append(("Table 5: cost", f"NaN policy: {policy} (no metric in this table).{dagger}",
                     cost_table(shown, bench_ms)))  # fmt: skip
    made = _figures(run_dir, results, shown, baseline, out_dir, policy)
    if panels:
        made["Critical difference"] = figures.critical_difference(
            panels, out_dir / "figures" / "critical_difference.png"
        )
    order = [rename.get(n, n) for n in summary["metrics"]["dice"]["ranking"]]
    first = pd.DataFrame({
        LABELS.get(m, m): pd.Series(summary["metrics"][m]["p_first"]).rename(rename)
        for m in VERDICT_METRICS if m in summary["metrics"]
    }).loc[order]  # fmt: skip
    made["Rank stability"] = figures.rank_stability(
        first, out_dir / "figures" / "rank_stability.png"
    )

    md = ["# lossbench report", ""]
    for title, text, frame in sections:
        md += (
            [f"## {title}", ""]
            + ([text, ""] if text else [])
            + ([_md(frame), ""] if frame is not None else [])
        )
    captions = {
        "Critical difference": "Mean Friedman ranks; a bar joins losses no two of which differ "
        "significantly in the pairwise Wilcoxon signed-rank tests (Holm over all pairs, 0.05).",
        "Rank stability": f"How often each loss has the best mean over {n_resamples:,} bootstrap "
        "resamples of the cases (and of the seeds within each case), every loss on the same "
        "draws.",
    }
    captions = {t: " ".join(filter(None, [captions.get(t, ""), dagger.strip()])) for t in made}
    for title, path in made.items():
        md += [f"## {title}", "", *([captions[title], ""] if captions[title] else [])]
        md += [f"![{title}](figures/{path.name})", ""]
    md_path = out_dir / "report.md"
    md_path.write_text("\n".join(md))

    stored = (run_dir / "config.toml").read_text() if config is not None else ""
    body = ["<h1>lossbench report</h1>"]
    for title, text, frame in sections:
        body.append(f"<h2>{html.escape(title)}</h2>")
        if text:
            body.append(_html_text(text))
        if frame is not None:
            body.append(_html_table(frame))
    for title, path in made.items():
        data = base64.b64encode(path.read_bytes()).decode()
        body.append(
            f"<h2>{html.escape(title)}</h2>"
            + (f"<p>{html.escape(captions[title])}</p>" if captions[title] else "")
            + f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
        )
    if stored:
        body.append(f"<h2>Configuration and versions</h2><pre>{html.escape(stored)}</pre>")
    page = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>lossbench report</title><style>{_STYLE}</style></head><body>"
            + "".join(body) + f"<script>{_SORT}</script></body></html>")  # fmt: skip
    html_path = out_dir / "report.html"
    html_path.write_text(page)
    return md_path, html_path
