"""Assemble the report of a run: ``report.md``, ``report.html``, ``summary.json`` and
``figures/``. The results table becomes a :class:`~lossbench.stats.ScoreTable` once; the
:class:`~lossbench.stats.Summary`, the sections (text and tables) and the figures are made from
it, then rendered to markdown and HTML."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lossbench._folders import check_output
from lossbench.config import Config, ReportConfig
from lossbench.layout import ReportLayout, RunLayout
from lossbench.metrics.facts import facts
from lossbench.report import figures
from lossbench.report._io import check_names, load_checked, read_config
from lossbench.report.compare import comparison_summary
from lossbench.report.diagnostics import Diagnostics, diagnostics
from lossbench.report.gradients import (
    LABELS,
    gradient_means,
    gradient_section,
    probed_histories,
)
from lossbench.report.html import Section, html_page, markdown_page
from lossbench.report.qualitative import worst_case_figure
from lossbench.report.released import released_section
from lossbench.report.sensitivity import heatmap_panels, sensitivity_sections
from lossbench.report.tables import (
    AGGREGATION_PROTOCOL,
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
from lossbench.report.tuning import tuning_sections, tuning_summary
from lossbench.report.verdict import (
    DAGGER,
    SCORED,
    VERDICT_METRICS,
    describe_protocol,
    verdict_markdown,
)
from lossbench.stats import (
    ScoreTable,
    Summary,
    check_nan_policy,
    critical_difference_groups,
    friedman_of,
    pairwise,
    summarise,
)

__all__ = ["build_report"]


@dataclass(frozen=True)
class _View:
    """The scores and results under display names: the pretraining loss carries a dagger."""

    table: ScoreTable
    shown: ScoreTable
    results: pd.DataFrame
    rename: dict[str, str]
    dagger: str

    @classmethod
    def of(cls, table: ScoreTable, results: pd.DataFrame, mark: str | None) -> _View:
        rename = {mark: f"{mark} {DAGGER}"} if mark is not None and mark in table.methods else {}
        dagger = (
            f" {DAGGER} {mark}: the loss of the shared pretraining, from which every loss started."
            if rename
            else ""
        )
        return cls(table, table.renamed(rename), results, rename, dagger)

    def name(self, method: str) -> str:
        return self.rename.get(method, method)


def _tables(view: _View, summary: Summary, n_resamples: int) -> list[Section]:
    """The verdict, Tables 1, 1b and 2."""
    one, _ = summary.words
    policy, dagger = summary.nan_policy, view.dagger
    note = policy_note(view.table, MAIN_METRICS)
    none = f"NaN policy: {policy} (no distance in this table).{dagger}"
    return [
        ("Verdict", verdict_markdown(summary), None),
        (
            f"Table 1: mean metrics per {one}",
            f"{AGGREGATION_PROTOCOL} {note}{dagger}",
            main_table(view.shown, MAIN_METRICS, n_resamples),
        ),
        ("Table 1b: more metrics", none, main_table(view.shown, EXTENDED_METRICS, n_resamples)),
        (
            "Table 2: coefficient of variation across cases",
            "Sample SD (ddof = 1) over the mean, cases with lesions; lower is more stable. " + none,
            cv_table(view.shown),
        ),
    ]


def _paired(view: _View, summary: Summary, baseline: str) -> Section:
    """Table 3: every method against the baseline."""
    one, many = summary.words
    n = len(view.table.methods)
    text = (
        f"Hodges-Lehmann estimate of the per-case difference ({one} minus baseline; "
        "the median of the Walsh averages) with its distribution-free 95% CI, and the "
        f"two-sided Wilcoxon signed-rank p-value, Holm-corrected over all {n * (n - 1) // 2} "
        f"pairs of {many}. Per-case values are averaged over seeds. "
        f"{policy_note(view.table, ('hd95',))}{view.dagger}"
    )
    name = view.name(baseline)
    return (f"Table 3: paired comparison with {name}", text, paired_table(view.shown, name))


def _ranks(view: _View, summary: Summary) -> tuple[Section, dict]:
    """The mean Friedman ranks, and the critical-difference panels (label -> ranks, groups)."""
    one, many = summary.words
    metrics = [m for m in VERDICT_METRICS if m in view.shown.scores]
    ranked = {m: friedman_of(view.shown.scores[m]) for m in metrics}
    frame, sentence = rank_table(ranked, many)
    text = (
        f"Mean rank of each {one} over the cases with lesions (1 = best). {sentence} "
        f"{policy_note(view.table, ('hd95',))}{view.dagger}"
    )
    panels = {}
    for metric, result in ranked.items():
        groups = critical_difference_groups(result.ranks.index, pairwise(view.shown.scores[metric]))
        panels[facts(metric).label] = (result.ranks, groups)
    return ("Mean ranks", text, frame), panels


def _histories(run: RunLayout, view: _View) -> dict[str, pd.DataFrame]:
    """Each loss's ``history.csv`` of its first seed, under its display name."""
    seed = int(view.results["seed"].min())
    return {
        view.name(m): pd.read_csv(run.trial(m, seed).history)
        for m in view.table.methods
        if run.trial(m, seed).history.exists()
    }


def _sections(
    view: _View,
    summary: Summary,
    baseline: str | None,
    n_resamples: int,
    bench: Any,
    histories: dict[str, pd.DataFrame],
    diagnosed: Diagnostics,
) -> tuple[list[Section], dict]:
    """Every section (title, text, table) of the report, and the panels of its figures: the
    critical-difference diagrams' (``"ranks"``), the sweeps' heatmaps (``"sweeps"``), the
    training histories (``"histories"``) and their probed steps (``"gradients"``)."""
    one, _ = summary.words
    methods = view.table.methods
    sections = _tables(view, summary, n_resamples)
    if baseline is not None and baseline in methods and len(methods) > 1:
        sections.append(_paired(view, summary, baseline))
    released = released_section(view.table, summary)
    if released is not None:
        sections.append(released)
    panels: dict = {}
    if len(methods) >= 3 and summary.n_lesion_cases >= 2:
        section, panels["ranks"] = _ranks(view, summary)
        sections.append(section)
    gradients = gradient_section(histories)
    if gradients is not None:
        sections.append(gradients)
    sections += diagnosed.sections
    panels.update(histories=histories, gradients=probed_histories(histories))
    sensitivity = sensitivity_sections(view.table, n_resamples)
    sections += [section for _, section, _ in sensitivity]
    panels["sweeps"] = {sweep.loss: heatmap_panels(sweep, cells) for sweep, _, cells in sensitivity}
    none = f"NaN policy: {summary.nan_policy} (no distance in this table).{view.dagger}"
    if view.table.fp_lesions.size:
        sections.append(
            ("Table 4: false positives on lesion-free cases", none, fp_table(view.shown))
        )
    if "train_seconds" in view.results:  # a run's table; scored predictions have no training
        ms = benchmark_ms(json.loads(Path(bench).read_text())) if bench else None
        ms = {view.name(k): v for k, v in ms.items()} if ms else None
        shown = view.results.assign(method=view.results["method"].replace(view.rename))
        cost = f"NaN policy: {summary.nan_policy} (no metric in this table).{view.dagger}"
        sections.append(("Table 5: cost", cost, cost_table(shown, ms)))
    for _, _, frame in sections:
        if frame is not None and frame.index.name in (None, "method"):
            frame.index.name = one
    return sections, panels


def _figures(
    run: RunLayout,
    out: ReportLayout,
    view: _View,
    summary: Summary,
    panels: dict,
    show: Sequence[str],
    baseline: str | None,
    diagnosed: Diagnostics,
) -> dict[str, Path]:
    """Every figure of the report: title -> PNG path."""
    _, many = summary.words
    out.figures.mkdir(parents=True, exist_ok=True)
    box = ("dice", "precision", "lesion_f1", "hd95")
    matrices = {m: view.shown.scores[m].matrix() for m in box if m in view.shown.scores}
    made = {"Per-case metrics": figures.boxplots(matrices, out.figure("boxplots"))}
    seed = int(view.results["seed"].min())
    if panels["histories"]:
        path = out.figure("training")
        made["Training loss"] = figures.training_curves(panels["histories"], path)
    if panels["gradients"]:
        path = out.figure("gradients")
        made["Gradient anatomy"] = figures.gradient_curves(panels["gradients"], LABELS, path)
    for title, name, draw, _ in diagnosed.figures:
        made[title] = draw(out.figure(name))
    qualitative = worst_case_figure(
        run, view.results, baseline, show, seed, out.figure("qualitative")
    )
    if qualitative is not None:
        made["Worst case of the baseline loss"] = qualitative
    if panels.get("ranks"):
        path = out.figure("critical_difference")
        made["Critical difference"] = figures.critical_difference(panels["ranks"], path, many)
    for loss, heatmaps in panels["sweeps"].items():
        path = out.figure(f"sensitivity_{loss}")
        made[f"Sensitivity of {loss}"] = figures.sweep_heatmaps(heatmaps, path)
    order = [view.name(n) for n in summary.metrics["dice"].ranking]
    first = pd.DataFrame(
        {
            facts(m).label: pd.Series(summary.metrics[m].p_first).rename(view.rename)
            for m in VERDICT_METRICS
            if m in summary.metrics
        }
    ).loc[order]
    made["Rank stability"] = figures.rank_stability(first, out.figure("rank_stability"))
    return made


def _captions(
    summary: Summary, baseline: str | None, n_resamples: int, diagnosed: Diagnostics
) -> dict[str, str]:
    one, many = summary.words
    return {
        **{title: caption for title, _, _, caption in diagnosed.figures},
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


def _summary(
    table: ScoreTable,
    results: pd.DataFrame,
    config: Config | None,
    n_resamples: int,
    compare: Sequence[str | Path],
) -> Summary:
    """The run's :class:`Summary`, with its protocol and its rank agreement with ``compare``."""
    summary = summarise(table, n_resamples=n_resamples)
    protocol = SCORED if table.unit == "method" else describe_protocol(config)
    comparisons = [
        comparison_summary(
            results,
            load_checked(Path(other))[0],
            str(other),
            describe_protocol(read_config(Path(other))).text,
            VERDICT_METRICS,
            table.nan_policy,
        )
        for other in compare
    ]
    return dataclasses.replace(summary, protocol=protocol, comparisons=comparisons)


def _write_summary(
    out: ReportLayout,
    summary: Summary,
    root: Path,
    histories: dict[str, pd.DataFrame],
    diagnosed: Diagnostics,
) -> None:
    """``summary.json``: the :class:`Summary`, a tuned run's ``tuning``, the gradient shares of
    a run with probes (``gradient_shares``: loss -> share -> mean over the last half of
    training), and the diagnostics' ``size_recall`` and ``calibration``."""
    record = {**summary.to_json(), **diagnosed.summary}
    tuning = tuning_summary(root)
    if tuning is not None:
        record["tuning"] = tuning
    shares = gradient_means(histories)
    if not shares.empty:
        record["gradient_shares"] = shares.round(6).to_dict(orient="index")
    out.summary.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")


def _captioned(
    paths: dict[str, Path], captions: dict[str, str], dagger: str
) -> dict[str, tuple[Path, str]]:
    """Each figure's path with its caption and the dagger's note."""
    return {
        title: (path, " ".join(filter(None, [captions.get(title, ""), dagger.strip()])))
        for title, path in paths.items()
    }


def _layouts(run_dir: str | Path, out_dir: str | Path | None) -> tuple[RunLayout, ReportLayout]:
    """The folder read and the folder written (checked: the run's own, or a report's)."""
    run = RunLayout(Path(run_dir))
    if out_dir is not None and Path(out_dir).resolve() != run.root.resolve():
        check_output(out_dir, "report")
    return run, ReportLayout(run.root if out_dir is None else Path(out_dir))


def build_report(
    run_dir: str | Path,
    baseline: str | None = None,
    n_resamples: int = 10_000,
    out_dir: str | Path | None = None,
    bench: str | Path | None = None,
    nan_policy: str | None = None,
    compare: Sequence[str | Path] = (),
    show: Sequence[str] = (),
    size_bins: Sequence[float] | None = None,
) -> tuple[Path, Path]:
    """Write ``report.md``, ``report.html``, ``summary.json`` (the
    :class:`lossbench.stats.Summary`) and ``figures/`` of a run or a score's folder.

    Args:
        run_dir: the folder holding ``results.parquet`` or ``results.csv``.
        baseline: the reference of Table 3's paired comparison and of the qualitative figure;
            by default ``dice`` when the table has it (no Table 3 otherwise).
        n_resamples: bootstrap resamples of Table 1 and of the rank stability.
        out_dir: where to write (default ``run_dir``): a new or empty folder, or an earlier
            report's (``summary.json``), never another run or score folder.
        bench: a pytest-benchmark JSON of ``benchmarks/test_loss_speed.py`` (Table 5).
        nan_policy: ``"worst"`` or ``"exclude"`` (default: the run's, else ``"worst"``).
        compare: other run folders whose rankings the verdict sets against this run's.
        show: losses shown in the qualitative figure beside the baseline and the best loss.
        size_bins: volume edges (mm^3) of the size bins (default: ``report.size_bins``).

    Returns:
        ``(markdown path, html path)``.

    Raises:
        FileNotFoundError: no results table in ``run_dir`` or in a ``compare`` folder.
        ValueError: the table lacks a required column, holds a value no metric can take, has no
            rows or no case with lesions, ``nan_policy`` is unknown, ``baseline`` or a ``show``
            loss is not in the results, or ``out_dir`` holds something else.
    """
    run, out = _layouts(run_dir, out_dir)
    config = read_config(run.root)
    settings = config.report if config else ReportConfig()
    policy = check_nan_policy(nan_policy or settings.nan_policy)
    results, unit = load_checked(run.root)
    check_names(run.root, results, unit, baseline, show)
    baseline = "dice" if baseline is None and "dice" in set(results["method"]) else baseline
    table = ScoreTable.from_results(results, policy, unit=unit)
    summary = _summary(table, results, config, n_resamples, compare)
    out.root.mkdir(parents=True, exist_ok=True)
    view = _View.of(table, results, summary.protocol.pretrain_loss)
    histories = _histories(run, view)
    edges = size_bins or settings.size_bins
    diagnosed = diagnostics(run.root, results, view.rename, summary.words, edges, n_resamples)
    _write_summary(out, summary, run.root, histories, diagnosed)
    sections, panels = _sections(view, summary, baseline, n_resamples, bench, histories, diagnosed)
    sections[1:1] = tuning_sections(run.root, results, compare, policy)  # after the verdict
    paths = _figures(run, out, view, summary, panels, show, baseline, diagnosed)
    made = _captioned(paths, _captions(summary, baseline, n_resamples, diagnosed), view.dagger)
    out.markdown.write_text(markdown_page(sections, made))
    out.html.write_text(html_page(sections, made, run.config.read_text() if config else ""))
    return out.markdown, out.html
