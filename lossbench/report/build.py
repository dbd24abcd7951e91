"""Assemble the report of a run: ``report.md``, ``report.html`` and ``figures/``."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from lossbench.report import figures
from lossbench.report.tables import (
    EXTENDED_METRICS,
    MAIN_METRICS,
    benchmark_ms,
    cost_table,
    cv_table,
    fp_table,
    main_table,
    paired_table,
    rank_table,
)
from lossbench.results import load
from lossbench.stats import friedman

__all__ = ["REQUIRED_COLUMNS", "build_report"]

REQUIRED_COLUMNS = ("loss", "seed", "case_id", *MAIN_METRICS, *EXTENDED_METRICS, "ref_empty",
                    "n_fp_lesions", "fp_volume_mm3", "train_seconds")  # fmt: skip

PROTOCOL = (
    "Aggregation protocol (MSSEG-2's): segmentation and lesion-detection metrics are averaged "
    "over the test cases that have reference lesions; cases without are summarised separately "
    "by their false-positive lesions (Table 4). With several seeds a case's value is first "
    "averaged over seeds, and the seed-to-seed spread of the mean Dice is its own column. "
    "Distances are NaN when exactly one mask is empty; such cases are left out of that mean and "
    "their number is shown after it as (-k). Brackets hold 95% percentile bootstrap intervals "
    "(10,000 resamples of cases, seeded). Bold marks the best mean per column."
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


def _check(results: pd.DataFrame, source: Path) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in results.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}")
    if results.empty:
        raise ValueError(f"{source}: the results table has no rows")


def _md(frame: pd.DataFrame) -> str:
    return tabulate(frame, headers="keys", tablefmt="github", stralign="right")


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


def _figures(run_dir: Path, results: pd.DataFrame, baseline: str, out_dir: Path) -> dict[str, Path]:
    out = out_dir / "figures"
    out.mkdir(parents=True, exist_ok=True)
    made = {"Per-case metrics": figures.boxplots(results, out / "boxplots.png")}
    seed = int(results["seed"].min())
    histories = {}
    for loss in sorted(results["loss"].unique()):
        path = run_dir / "trials" / f"{loss}-seed{seed}" / "history.csv"
        if path.exists():
            histories[loss] = pd.read_csv(path)
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


def build_report(
    run_dir: str | Path,
    baseline: str = "dice",
    n_resamples: int = 10_000,
    out_dir: str | Path | None = None,
    bench: str | Path | None = None,
) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.html`` and ``figures/`` for a finished (or partial) run.

    Args:
        run_dir: the run folder (must hold ``results.parquet`` or ``results.csv``).
        baseline: the reference loss of the paired tests (Table 3).
        n_resamples: bootstrap resamples of Table 1.
        out_dir: where to write (default ``run_dir``); figures that need the run's images
            still read them from ``run_dir``.
        bench: a pytest-benchmark JSON of ``benchmarks/test_loss_speed.py``, whose medians join
            Table 5.

    Returns:
        ``(markdown path, html path)``.

    Raises:
        FileNotFoundError: no results table in ``run_dir``.
        ValueError: the table lacks a required column (file and column named) or has no rows.
    """
    run_dir = Path(run_dir)
    out_dir = run_dir if out_dir is None else Path(out_dir)
    results = load(run_dir)
    _check(
        results,
        run_dir / "results.parquet"
        if (run_dir / "results.parquet").exists()
        else run_dir / "results.csv",
    )
    results = results.assign(case_id=results["case_id"].astype(str))
    losses = sorted(results["loss"].unique())
    seeds = sorted(results["seed"].unique())
    n_cases = results["case_id"].nunique()
    n_lesion = results.loc[~results["ref_empty"].astype(bool), "case_id"].nunique()
    sections: list[tuple[str, str, pd.DataFrame | None]] = [
        ("Table 1: mean metrics per loss", PROTOCOL,
         main_table(results, MAIN_METRICS, n_resamples)),
        ("Table 1b: more metrics", "", main_table(results, EXTENDED_METRICS, n_resamples)),
        ("Table 2: coefficient of variation across cases", "Sample SD (ddof = 1) over the mean, "
         "cases with lesions; lower is more stable.", cv_table(results)),
    ]  # fmt: skip
    if baseline in losses and len(losses) > 1:
        text = ("Median per-case difference (loss minus baseline) and Wilcoxon signed-rank "
                "p-value, Holm-corrected across losses.")  # fmt: skip
        sections.append((f"Table 3: paired comparison with {baseline}", text,
                         paired_table(results, baseline)))  # fmt: skip
    ranked = None
    if len(losses) >= 3 and n_lesion >= 2:
        ranked = friedman(results, "dice")
        frame, sentence = rank_table(*ranked, metric="dice")
        sections.append(("Mean ranks", sentence, frame))
    if results["ref_empty"].astype(bool).any():
        sections.append(("Table 4: false positives on lesion-free cases", "", fp_table(results)))
    bench_ms = benchmark_ms(json.loads(Path(bench).read_text())) if bench else None
    sections.append(("Table 5: cost", "", cost_table(results, bench_ms)))
    made = _figures(run_dir, results, baseline, out_dir)
    if ranked is not None:
        made["Critical difference (Dice ranks)"] = figures.critical_difference(
            ranked[0], ranked[2], out_dir / "figures" / "critical_difference.png"
        )
    intro = (f"{len(losses)} losses, {len(seeds)} seed(s), {n_cases} test cases ({n_lesion} with "
             f"new lesions).")  # fmt: skip
    if len(seeds) == 1:
        intro += (
            " One seed cannot rank losses: the seed-to-seed spread can be as large as the gaps."
        )
    md = ["# lossbench report", "", intro, ""]
    for title, text, frame in sections:
        md += (
            [f"## {title}", ""]
            + ([text, ""] if text else [])
            + ([_md(frame), ""] if frame is not None else [])
        )
    for title, path in made.items():
        md += [f"## {title}", "", f"![{title}](figures/{path.name})", ""]
    md_path = out_dir / "report.md"
    md_path.write_text("\n".join(md))

    config = (run_dir / "config.toml").read_text() if (run_dir / "config.toml").exists() else ""
    body = [f"<h1>lossbench report</h1><p>{html.escape(intro)}</p>"]
    for title, text, frame in sections:
        body.append(f"<h2>{html.escape(title)}</h2>")
        if text:
            body.append(f"<p>{html.escape(text)}</p>")
        if frame is not None:
            body.append(_html_table(frame))
    for title, path in made.items():
        data = base64.b64encode(path.read_bytes()).decode()
        body.append(
            f"<h2>{html.escape(title)}</h2>"
            f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
        )
    if config:
        body.append(f"<h2>Configuration and versions</h2><pre>{html.escape(config)}</pre>")
    page = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>lossbench report</title><style>{_STYLE}</style></head><body>"
            + "".join(body) + f"<script>{_SORT}</script></body></html>")  # fmt: skip
    html_path = out_dir / "report.html"
    html_path.write_text(page)
    return md_path, html_path
