"""The report of a fabricated run: every table and figure, no external reference, clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lossbench.cli import main
from lossbench.metrics import METRIC_KEYS
from lossbench.report import build_report


def fabricated_run(folder: Path, seeds: int = 2) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for loss in ("dice", "ce", "hytver", "focal"):
        for seed in range(seeds):
            for case in range(10):
                row = {k: float(rng.uniform(0.3, 0.9)) for k in METRIC_KEYS}
                row.update(loss=loss, seed=seed, case_id=f"{case:03d}", ref_empty=case >= 8,
                           pred_empty=False, n_fp_lesions=int(rng.integers(0, 3)),
                           fp_volume_mm3=5.0, train_seconds=12.0)  # fmt: skip
                rows.append(row)
        for seed in range(seeds):
            history = pd.DataFrame({"iteration": range(1, 21), "loss": np.linspace(1, 0.2, 20)})
            trial = folder / "trials" / f"{loss}-seed{seed}"
            trial.mkdir(parents=True)
            history.to_csv(trial / "history.csv", index=False)
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    (folder / "config.toml").write_text('preset = "quick"\n')
    return folder


def test_report_has_every_table_and_figure(tmp_path: Path) -> None:
    markdown, page = build_report(fabricated_run(tmp_path), n_resamples=200)
    text = markdown.read_text()
    for title in (
        "Table 1",
        "Table 1b",
        "Table 2",
        "Table 3: paired comparison with dice",
        "Mean ranks",
        "Table 4",
        "Table 5",
        "Per-case metrics",
        "Training loss",
        "Critical difference (Dice ranks)",
    ):
        assert f"## {title}" in text, title
    assert (tmp_path / "figures" / "boxplots.png").stat().st_size > 10_000
    assert "seed SD" in text  # two seeds: the spread column is there
    html = page.read_text()
    assert re.search(r"<td><b>0\.\d{3}</b> \[0\.\d{3}, 0\.\d{3}\]</td>", html)  # bold best
    assert "**" not in html
    assert html.count("<table") == text.count("\n|--") and "data:image/png;base64," in html
    assert (
        not re.search(r"(src|href)=\"https?:", html)
        and "http://" not in html
        and "https://" not in html
    )


def test_report_command_and_errors(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["report", str(tmp_path)]) == 2
    assert "no results.parquet or results.csv in" in capsys.readouterr().err
    run = fabricated_run(tmp_path / "run", seeds=1)
    table = pd.read_csv(run / "results.csv").drop(columns=["hd95"])
    table.to_csv(run / "results.csv", index=False)
    assert main(["report", str(run)]) == 2
    assert "results.csv: missing column(s) hd95" in capsys.readouterr().err
    with pytest.raises(ValueError, match="missing column"):
        build_report(run)


def test_report_elsewhere_with_benchmark_times(tmp_path: Path) -> None:
    run = fabricated_run(tmp_path / "run", seeds=1)
    bench = {"benchmarks": [{"name": "test_lossbench[hytver]", "params": {"name": "hytver"},
                             "stats": {"median": 0.00762}}]}  # fmt: skip
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    args = ["report", str(run), "--out", str(tmp_path / "published"), "--bench"]
    assert main([*args, str(tmp_path / "bench.json")]) == 0
    table5 = (tmp_path / "published" / "report.md").read_text().split("## Table 5")[1]
    assert "forward + backward (ms)" in table5 and "7.62" in table5
    assert (tmp_path / "published" / "report.html").exists()
    assert (tmp_path / "published" / "figures" / "boxplots.png").exists()
    assert not (run / "report.md").exists()
