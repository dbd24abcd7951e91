"""Assemble the report of a run: ``report.md``, ``report.html``, ``summary.json`` and
``figures/``, in three steps: the sections (text and tables), the figures, then the markdown and
HTML renderings of both."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from lossbench._folders import check_output
from lossbench.config import Config
from lossbench.layout import ReportLayout, RunLayout
from lossbench.metrics.facts import facts
from lossbench.report import figures
from lossbench.report._io import load_checked, locate_test_cases, read_config, unit_of
from lossbench.report.compare import comparison_summary
from lossbench.report.html import Section, html_page
from lossbench.report.tables import (
    EXTENDED_METRICS,
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
from lossbench.report.verdict import (
    DAGGER,
    VERDICT_METRICS,
    describe_protocol,
    verdict_markdown,
    words,
)
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


def _md(frame: pd.DataFrame) -> str:
    return tabulate(
        frame, headers="keys", tablefmt="github", stralign="right", disable_numparse=True
    )


@dataclass(frozen=True)
class _View:
    """The results under display names: the pretraining loss carries a dagger."""

    results: pd.DataFrame
    shown: pd.DataFrame
    rename: dict[str, str]
    dagger: str

    @classmethod
    def of(cls, results: pd.DataFrame, mark: str | None) -> _View:
        losses = set(results["loss"])
        rename = {mark: f"{mark} {DAGGER}"} if mark is not None and mark in losses else {}
        dagger = (
            f" {DAGGER} {mark}: the loss of the shared pretraining, from which every loss started."
            if mark in losses
            else ""
        )
        return cls(results, results.assign(loss=results["loss"].replace(rename)), rename, dagger)

    def name(self, loss: str) -> str:
        return self.rename.get(loss, loss)


def _sections(
    view: _View,
    summary: dict[str, Any],
    baseline: str | None,
    policy: str,
    n_resamples: int,
    bench: str | Path | None,
) -> tuple[list[Section], dict]:
    """The verdict and the tables, and the critical-difference panels (label -> ranks, groups)."""
    results, shown, dagger = view.results, view.shown, view.dagger
    one, many = words(summary)
    losses = sorted(results["loss"].unique())
    note = policy_note(results, MAIN_METRICS, policy)
    sections: list[Section] = [
        ("Verdict", verdict_markdown(summary), None),
        (
            f"Table 1: mean metrics per {one}",
            f"{PROTOCOL} {note}{dagger}",
            main_table(shown, MAIN_METRICS, n_resamples, nan_policy=policy),
        ),
        (
            "Table 1b: more metrics",
            f"NaN policy: {policy} (no distance in this table).{dagger}",
            main_table(shown, EXTENDED_METRICS, n_resamples, nan_policy=policy),
        ),
        (
            "Table 2: coefficient of variation across cases",
            "Sample SD (ddof = 1) over the mean, "
            f"cases with lesions; lower is more stable. NaN policy: {policy} (no distance in this "
            f"table).{dagger}",
            cv_table(shown, nan_policy=policy),
        ),
    ]
    if baseline is not None and baseline in losses and len(losses) > 1:
        n_pairs = len(losses) * (len(losses) - 1) // 2
        text = (
            f"Hodges-Lehmann estimate of the per-case difference ({one} minus baseline; "
            "the median of the Walsh averages) with its distribution-free 95% CI, and the "
            f"two-sided Wilcoxon signed-rank p-value, Holm-corrected over all {n_pairs} "
            f"pairs of {many}. Per-case values are averaged over seeds. "
            f"{policy_note(results, ('hd95',), policy)}{dagger}"
        )
        sections.append(
            (
                f"Table 3: paired comparison with {view.name(baseline)}",
                text,
                paired_table(shown, view.name(baseline), nan_policy=policy),
            )
        )
    panels: dict[str, tuple[pd.Series, list[list[str]]]] = {}
    if len(losses) >= 3 and summary["n_lesion_cases"] >= 2:
        ranked = {m: friedman(shown, m, policy) for m in VERDICT_METRICS if m in shown.columns}
        frame, sentence = rank_table(ranked, many)
        sections.append(
            (
                "Mean ranks",
                f"Mean rank of each {one} over the cases with lesions "
                f"(1 = best). {sentence} {policy_note(results, ('hd95',), policy)}"
                f"{dagger}",
                frame,
            )
        )
        for metric, result in ranked.items():
            tests = pairwise_tests(shown, metric, policy)
            groups = critical_difference_groups(result.ranks.index, tests)
            panels[facts(metric).label] = (result.ranks, groups)
    if results["ref_empty"].astype(bool).any():
        sections.append(
            (
                "Table 4: false positives on lesion-free cases",
                f"NaN policy: {policy} (no distance in this table).{dagger}",
                fp_table(shown),
            )
        )
    if "train_seconds" in results:  # a run's table; scored predictions have no training cost
        bench_ms = benchmark_ms(json.loads(Path(bench).read_text())) if bench else None
        bench_ms = {view.name(k): v for k, v in bench_ms.items()} if bench_ms else None
        sections.append(
            (
                "Table 5: cost",
                f"NaN policy: {policy} (no metric in this table).{dagger}",
                cost_table(shown, bench_ms),
            )
        )
    for _, _, frame in sections:
        if frame is not None and frame.index.name in (None, "loss"):
            frame.index.name = one
    return sections, panels


def _figures(
    run: RunLayout,
    out: ReportLayout,
    view: _View,
    summary: dict[str, Any],
    panels: dict,
    policy: str,
    show: Sequence[str],
    baseline: str | None,
    n_resamples: int,
) -> dict[str, tuple[Path, str]]:
    """Every figure of the report: title -> (PNG path, caption)."""
    results, shown = view.results, view.shown
    one, many = words(summary)
    out.figures.mkdir(parents=True, exist_ok=True)
    made = {"Per-case metrics": figures.boxplots(shown, out.figure("boxplots"), nan_policy=policy)}
    seed = int(results["seed"].min())
    histories = {
        view.name(loss): pd.read_csv(run.trial(loss, seed).history)
        for loss in sorted(results["loss"].unique())
        if run.trial(loss, seed).history.exists()
    }
    if histories:
        made["Training loss"] = figures.training_curves(histories, out.figure("training"))
    qualitative = _qualitative(run, results, baseline, show, seed, out.figure("qualitative"))
    if qualitative is not None:
        made["Worst case of the baseline loss"] = qualitative
    if panels:
        made["Critical difference"] = figures.critical_difference(
            panels, out.figure("critical_difference"), many
        )
    order = [view.name(n) for n in summary["metrics"]["dice"]["ranking"]]
    first = pd.DataFrame(
        {
            facts(m).label: pd.Series(summary["metrics"][m]["p_first"]).rename(view.rename)
            for m in VERDICT_METRICS
            if m in summary["metrics"]
        }
    ).loc[order]
    made["Rank stability"] = figures.rank_stability(first, out.figure("rank_stability"))
    captions = {
        "Worst case of the baseline loss": f"The test case where {baseline} has its lowest "
        "Dice: the baseline loss, the loss with the best mean Dice and any loss asked for "
        "with --show; green true positives, red false positives, blue false negatives.",
        "Critical difference": f"Mean Friedman ranks; a bar joins {many} no two of which "
        "differ significantly in the pairwise Wilcoxon signed-rank tests (Holm over all pairs, "
        "0.05).",
        "Rank stability": f"How often each {one} has the best mean over {n_resamples:,} "
        f"bootstrap resamples of the cases (and of the seeds within each case), every {one} on "
        "the same draws.",
    }
    return {
        title: (path, " ".join(filter(None, [captions.get(title, ""), view.dagger.strip()])))
        for title, path in made.items()
    }


def _qualitative(
    run: RunLayout,
    results: pd.DataFrame,
    baseline: str | None,
    show: Sequence[str],
    seed: int,
    path: Path,
) -> Path | None:
    """Baseline, follow-up, reference and predictions of the baseline loss's worst case, for
    the baseline loss, the best loss by mean Dice and the losses of ``show``."""
    import nibabel as nib

    from lossbench.data.msseg2 import FILES

    lesion = results[~results["ref_empty"].astype(bool) & (results["seed"] == seed)]
    location = locate_test_cases(run.root)
    if baseline is None or baseline not in set(lesion["loss"]) or location is None:
        return None
    base_rows = lesion[lesion["loss"] == baseline]
    case_id = str(base_rows.loc[base_rows["dice"].idxmin(), "case_id"])
    best = str(lesion.groupby("loss")["dice"].mean().idxmax())
    predictions = {}
    for loss in dict.fromkeys([baseline, best, *show]):
        file = run.trial(loss, seed).prediction(case_id)
        if file.exists():
            image: Any = nib.load(str(file))
            predictions[loss] = np.asarray(image.dataobj).astype(bool)
    folder = location / case_id
    if not folder.is_dir() or not predictions:
        return None
    volumes = [_read(folder / FILES[k]) for k in ("baseline", "followup", "label")]
    if any(p.shape != volumes[2].shape for p in predictions.values()):
        return None  # predictions on a resampled grid: not comparable slice by slice
    return figures.qualitative(
        volumes[0], volumes[1], volumes[2].astype(bool), predictions, path, title=f"case {case_id}"
    )


def _read(path: Path) -> np.ndarray:
    import nibabel as nib

    image: Any = nib.load(str(path))
    return np.asarray(image.dataobj)


def _markdown(sections: Sequence[Section], made: dict[str, tuple[Path, str]]) -> str:
    md = ["# lossbench report", ""]
    for title, text, frame in sections:
        md += [f"## {title}", ""] + ([text, ""] if text else [])
        md += [_md(frame), ""] if frame is not None else []
    for title, (path, caption) in made.items():
        md += [f"## {title}", "", *([caption, ""] if caption else [])]
        md += [f"![{title}](figures/{path.name})", ""]
    return "\n".join(md)


def _summary(
    results: pd.DataFrame,
    config: Config | None,
    policy: str,
    n_resamples: int,
    compare: Sequence[str | Path],
    unit: str,
) -> dict[str, Any]:
    summary = summarise(results, nan_policy=policy, n_resamples=n_resamples)
    summary["protocol"] = describe_protocol(config)
    if unit == "method":  # scored predictions: methods, not losses, and no training protocol
        summary = {"unit": "method", "methods": summary.pop("losses"), **summary}
        summary["protocol"] = {
            "preset": None,
            "init": "scored",
            "pretrain_loss": None,
            "text": "each method's predictions scored against the reference "
            "masks (lossbench score)",
        }
    summary["comparisons"] = [
        comparison_summary(
            results,
            load_checked(Path(other)),
            str(other),
            describe_protocol(read_config(Path(other))),
            VERDICT_METRICS,
            policy,
        )
        for other in compare
    ]
    return summary


def build_report(
    run_dir: str | Path,
    baseline: str | None = None,
    n_resamples: int = 10_000,
    out_dir: str | Path | None = None,
    bench: str | Path | None = None,
    nan_policy: str | None = None,
    compare: Sequence[str | Path] = (),
    show: Sequence[str] = (),
) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.html``, ``summary.json`` and ``figures/`` for a finished (or
    partial) run.

    The report opens with the verdict (:func:`lossbench.report.verdict.verdict_markdown`);
    ``summary.json`` holds its numbers (:func:`lossbench.stats.summarise`) plus the protocol and
    any comparison with other runs.

    Args:
        run_dir: the run folder (must hold ``results.parquet`` or ``results.csv``).
        baseline: the reference loss of the paired comparison of Table 3 and of the
            qualitative figure; by default ``dice`` when the table has it (no Table 3
            otherwise).
        n_resamples: bootstrap resamples of Table 1 and of the rank stability.
        out_dir: where to write (default ``run_dir``): a new or empty folder, or an earlier
            report's (``summary.json``), never another run or score folder; figures that need
            the run's images still read them from ``run_dir`` and the test cases it records.
        bench: a pytest-benchmark JSON of ``benchmarks/test_loss_speed.py``, whose medians join
            Table 5.
        nan_policy: ``"worst"`` or ``"exclude"`` for distances missing because exactly one mask
            is empty; default the run's ``report.nan_policy``, else ``"worst"``.
        compare: other run folders (e.g. the same losses from scratch) whose rankings the
            verdict sets against this run's (Kendall's tau).
        show: losses shown in the qualitative figure beside the baseline and the best loss.

    Returns:
        ``(markdown path, html path)``.

    Raises:
        FileNotFoundError: no results table in ``run_dir`` or in a ``compare`` folder.
        ValueError: the table lacks a required column (file and column named), holds a value
            no metric can take (:func:`lossbench.results.check_table`), has no rows or no case
            with lesions, ``nan_policy`` is unknown, ``baseline`` or a ``show`` loss is not in
            the results, or ``out_dir`` holds something else.
    """
    run = RunLayout(Path(run_dir))
    if out_dir is not None and Path(out_dir).resolve() != run.root.resolve():
        check_output(out_dir, "report")
    out = ReportLayout(run.root if out_dir is None else Path(out_dir))
    config = read_config(run.root)
    policy = check_nan_policy(
        nan_policy if nan_policy is not None else config.report.nan_policy if config else "worst"
    )
    results = load_checked(run.root)
    unit = unit_of(run.root)
    if results["ref_empty"].astype(bool).all():
        raise ValueError(
            f"{run.root}: no test case has reference lesions, and the statistics compare the "
            "cases that have them"
        )
    names = sorted(results["loss"].unique())
    unknown = [n for n in show if n not in names]
    if unknown:
        raise ValueError(
            f"show: {', '.join(unknown)} not in the results of {run.root} "
            f"({words({'unit': unit})[1]}: {', '.join(names)})"
        )
    if baseline is not None and baseline not in names:
        raise ValueError(
            f"baseline {baseline!r} is not one of the {words({'unit': unit})[1]} of {run.root}: "
            f"{', '.join(names)}"
        )
    baseline = baseline if baseline is not None else "dice" if "dice" in names else None
    summary = _summary(results, config, policy, n_resamples, compare, unit)
    out.root.mkdir(parents=True, exist_ok=True)
    out.summary.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    view = _View.of(results, summary["protocol"]["pretrain_loss"])
    sections, panels = _sections(view, summary, baseline, policy, n_resamples, bench)
    made = _figures(run, out, view, summary, panels, policy, show, baseline, n_resamples)
    out.markdown.write_text(_markdown(sections, made))
    configuration = run.config.read_text() if config is not None else ""
    out.html.write_text(html_page(sections, made, configuration))
    return out.markdown, out.html
