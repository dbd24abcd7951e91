"""The report of a fabricated run: every table and figure, no external reference, clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lossbench.cli import main
from lossbench.losses.variants import parse_variant
from lossbench.metrics import METRIC_KEYS
from lossbench.report import build_report


def fabricated_run(folder: Path, seeds: int = 2) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for loss in ("dice", "ce", "hytver", "focal"):
        for seed in range(seeds):
            for case in range(10):
                row: dict[str, object] = {k: float(rng.uniform(0.3, 0.9)) for k in METRIC_KEYS}
                row.update(
                    loss=loss,
                    seed=seed,
                    case_id=f"{case:03d}",
                    ref_empty=case >= 8,
                    pred_empty=False,
                    n_fp_lesions=int(rng.integers(0, 3)),
                    fp_volume_mm3=5.0,
                    train_seconds=12.0,
                    n_ref_lesions=0 if case >= 8 else 2,
                    n_pred_lesions=2,
                )
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
        "Critical difference",
        "Rank stability",
    ):
        assert f"## {title}" in text, title
    assert text.index("## Verdict") < text.index("## Table 1")  # the report opens with it
    for name in ("critical_difference.png", "rank_stability.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 5_000
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


SUMMARY_METRICS = ("dice", "jaccard", "hd95", "asd", "precision", "recall", "lesion_f1", "nsd")


def test_summary_json_has_the_documented_keys(tmp_path: Path) -> None:
    build_report(fabricated_run(tmp_path), n_resamples=100)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["nan_policy"] == "worst"
    assert summary["seeds"]["n"] == 2 and set(summary["seeds"]["kendall_w"]) >= {"dice", "hd95"}
    losses = {"dice", "ce", "hytver", "focal"}
    for metric in SUMMARY_METRICS:
        facts = summary["metrics"][metric]
        assert isinstance(facts["higher_is_better"], bool)
        assert set(facts["mean"]) == set(facts["penalised"]) == set(facts["ranking"]) == losses
        assert facts["not_worse_than_best"][0] == facts["ranking"][0]
        means = [facts["mean"][n] for n in facts["ranking"]]
        assert means == sorted(means, reverse=facts["higher_is_better"])
        assert all(isinstance(v, int) for v in facts["penalised"].values())
    assert summary["metrics"]["hd95"]["higher_is_better"] is False


def test_nan_policy_from_the_flag_and_from_the_config(tmp_path: Path) -> None:
    run = fabricated_run(tmp_path / "run", seeds=1)
    table = pd.read_csv(run / "results.csv")
    missed = (table["loss"] == "focal") & (table["case_id"] < 3)  # focal empties 3 lesion cases
    table.loc[missed, ["hd95", "asd", "hd", "assd"]] = np.nan
    table.loc[missed, "pred_empty"] = True
    table["diagonal_mm"] = 88.0
    table.to_csv(run / "results.csv", index=False)
    assert main(["report", str(run)]) == 0
    worst = json.loads((run / "summary.json").read_text())
    assert worst["metrics"]["hd95"]["penalised"]["focal"] == 3
    assert worst["metrics"]["hd95"]["ranking"][-1] == "focal"
    text = (run / "report.md").read_text()
    assert "Cases given the worst value: HD95 (mm): focal 3" in text and "(3 worst)" in text
    assert main(["report", str(run), "--nan-policy", "exclude"]) == 0
    exclude = json.loads((run / "summary.json").read_text())
    assert exclude["nan_policy"] == "exclude" and exclude["metrics"]["hd95"]["penalised"] == {
        "ce": 0,
        "dice": 0,
        "focal": 0,
        "hytver": 0,
    }
    assert "Cases left out: HD95 (mm): focal 3" in (run / "report.md").read_text()
    (run / "config.toml").write_text('preset = "quick"\n[report]\nnan_policy = "exclude"\n')
    assert main(["report", str(run)]) == 0
    assert json.loads((run / "summary.json").read_text())["nan_policy"] == "exclude"


def test_a_verdict_on_noise_picks_no_loss_and_no_sign_on_zero(tmp_path: Path) -> None:
    text = build_report(fabricated_run(tmp_path), n_resamples=100)[0].read_text()
    assert "the evidence does not pick a loss" in text.split("## Table 1")[0]
    assert "-0.000" not in text and "-0.00 " not in text


def test_the_pretraining_loss_is_marked_and_the_protocol_named(tmp_path: Path) -> None:
    run = fabricated_run(tmp_path / "run", seeds=1)
    (run / "config.toml").write_text('[train]\ninit = "pretrain"\npretrain_loss = "ce"\n')
    build_report(run, n_resamples=100)
    text = (run / "report.md").read_text()
    verdict = text.split("## Table 1")[0]
    assert "from one shared pretraining with ce" in verdict
    assert "every loss started from its optimum" in verdict and "one seed" in verdict
    assert "`lossbench run --preset scratch`" in verdict and "lossbench compare" in verdict
    assert "|   ce † |" in text.split("## Table 1:")[1].split("## Table 1b")[0]
    assert json.loads((run / "summary.json").read_text())["protocol"]["pretrain_loss"] == "ce"
    (run / "config.toml").write_text('[train]\ninit = "scratch"\niterations = 850\n')
    build_report(run, n_resamples=100)
    text = (run / "report.md").read_text()
    assert "trained from scratch for 850 iterations" in text and "†" not in text


def test_compare_runs_and_a_verdict_against_another_protocol(tmp_path: Path, capsys) -> None:
    a = fabricated_run(tmp_path / "a", seeds=1)
    b = fabricated_run(tmp_path / "b", seeds=1)
    table = pd.read_csv(b / "results.csv")
    table["dice"] = 1 - table["dice"]  # the other protocol reverses the Dice ranking
    table.to_csv(b / "results.csv", index=False)
    (b / "config.toml").write_text('[train]\ninit = "scratch"\n')
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "a vs b: tau = -1.00" in out and "rank a" in out and "rank b" in out
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert data["metrics"]["dice"]["tau"][0]["tau"] == -1.0 and data["runs"][1]["name"] == "b"
    assert (tmp_path / "cmp" / "compare.md").exists()
    assert main(["report", str(a), "--compare", str(b)]) == 0
    verdict = (a / "report.md").read_text().split("## Table 1")[0]
    assert "trained from scratch" in verdict and "rankings is -1.00 on DC" in verdict
    assert "the Dice ranking does not carry over" in verdict
    assert main(["compare", str(a)]) == 2
    assert "at least two run folders" in capsys.readouterr().err
    assert main(["compare", str(a), str(b), "--metrics", "volume"]) == 2
    assert "metric 'volume' is not in the results of a, b" in capsys.readouterr().err


def test_report_command_and_errors(tmp_path: Path, capsys) -> None:
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
    bench = {
        "benchmarks": [
            {
                "name": "test_lossbench[hytver]",
                "params": {"name": "hytver"},
                "stats": {"median": 0.00762},
            }
        ]
    }
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    args = ["report", str(run), "--out", str(tmp_path / "published"), "--bench"]
    assert main([*args, str(tmp_path / "bench.json")]) == 0
    table5 = (tmp_path / "published" / "report.md").read_text().split("## Table 5")[1]
    assert "forward + backward (ms)" in table5 and "7.62" in table5
    assert (tmp_path / "published" / "report.html").exists()
    assert (tmp_path / "published" / "figures" / "boxplots.png").exists()
    assert not (run / "report.md").exists()


def test_an_unknown_baseline_is_refused_and_a_run_without_dice_has_no_table_3(
    tmp_path: Path, capsys
) -> None:
    run = fabricated_run(tmp_path / "run", seeds=1)
    assert main(["report", str(run), "--baseline", "nope"]) == 2
    assert "baseline 'nope' is not one of the losses of" in capsys.readouterr().err
    assert not (run / "report.md").exists()
    table = pd.read_csv(run / "results.csv")
    table[table["loss"] != "dice"].to_csv(run / "results.csv", index=False)
    text = build_report(run, n_resamples=100)[0].read_text()
    assert "## Table 3" not in text  # the default baseline, dice, is not in this run
    assert (
        "## Table 3: paired comparison with ce"
        in build_report(run, "ce", n_resamples=100)[0].read_text()
    )


def test_compare_explains_a_tau_it_cannot_compute(tmp_path: Path, capsys) -> None:
    a = fabricated_run(tmp_path / "a", seeds=1)
    b = fabricated_run(tmp_path / "b", seeds=1)
    table = pd.read_csv(b / "results.csv")
    table[table["loss"].isin(["dice", "foo"])].to_csv(b / "results.csv", index=False)
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert (
        "a vs b: tau cannot be computed: the runs share 1 loss, and a ranking needs at least 2"
        in out
        and "tau = nan" not in out
    )
    assert main(["report", str(a), "--compare", str(b)]) == 0
    verdict = (a / "report.md").read_text().split("## Table 1")[0]
    assert "is not computable (tau cannot be computed: the runs share 1 loss" in verdict


def test_an_impossible_table_is_refused_where_it_is_read(tmp_path: Path) -> None:
    from lossbench.results import check_table

    run = fabricated_run(tmp_path / "run", seeds=1)
    table = pd.read_csv(run / "results.csv", dtype={"case_id": str})
    base = table.assign(pred_empty=False)
    rows: list[tuple[dict[str, object], int, str]] = [
        ({"dice": float("nan")}, 0, "column dice: missing"),
        ({"lesion_f1": float("nan")}, 0, "lesion_f1 is missing only for a case without"),
        ({"hd95": float("nan")}, 0, "a distance is missing only when exactly one mask is empty"),
        ({"hd95": -1.0}, 0, "column hd95: -1.0 is not a finite number >= 0"),
        ({"hd": float("inf")}, 0, "column hd: inf is not a finite number >= 0"),
        ({"n_fp_lesions": 1.5}, 3, r"row 4 \(loss dice, seed 0, case 003\), column n_fp_lesions"),
        ({"ref_empty": "maybe"}, 0, "column ref_empty: 'maybe' is not true or false"),
    ]
    for change, row, message in rows:
        bad = base.astype(object)
        for column, value in change.items():
            bad.loc[row, column] = value
        with pytest.raises(ValueError, match=message):
            check_table(bad.infer_objects(), "results.csv")
    allowed = base.copy()
    allowed.loc[8, "lesion_f1"] = float("nan")  # case 008 has no reference lesion
    allowed.loc[0, ["hd95", "pred_empty"]] = [float("nan"), True]  # an empty prediction
    check_table(allowed, "results.csv")


def test_published_vs_released_gives_what_each_defect_costs(tmp_path: Path) -> None:
    folder = fabricated_run(tmp_path / "run", seeds=1)
    results = pd.read_csv(folder / "results.csv", dtype={"case_id": str})
    worse = results[results["loss"] == "hytver"].assign(loss="hytver_released")
    worse["dice"] -= 0.1  # the released variant loses 0.1 Dice on every case
    lone = results[results["loss"] == "ce"].assign(loss="dice_pp_released")  # no dice_pp here
    pd.concat([results, worse, lone]).to_csv(folder / "results.csv", index=False)
    markdown, page = build_report(folder, n_resamples=200)
    text = markdown.read_text()
    section = text[text.index("## Published vs released") :].split("\n## ")[0]
    assert "Holm-corrected over the 1 pair shown" in section
    row = next(line for line in section.splitlines() if line.startswith("| hytver"))
    # 8 cases with lesions, every difference -0.1: HL -0.1, exact Wilcoxon p = 2 / 2^8
    assert "-0.100 [-0.100, -0.100]" in row and "0.008" in row
    assert re.search(r"\d+ → \d+ of 6", row)
    assert "dice_pp" not in section  # dice_pp_released has no published pair here
    assert "Published vs released" in page.read_text()


def test_a_run_without_released_pairs_has_no_such_section(tmp_path: Path) -> None:
    markdown, _ = build_report(fabricated_run(tmp_path, seeds=1), n_resamples=200)
    assert "Published vs released" not in markdown.read_text()


def _sweep_results(folder: Path) -> Path:
    """A fabricated sweep of hytver over alpha and beta: Dice rises with alpha, and the best
    cell (alpha 0.9, beta 0.5) is clearly ahead of the alpha = 0.5 cells."""
    rng = np.random.default_rng(1)
    rows = []
    for alpha in (0.5, 0.7, 0.9):
        for beta in (0.5, 0.7):
            name = parse_variant(f"hytver(alpha={alpha},beta={beta})").id
            for case in range(12):
                row: dict[str, object] = {k: float(rng.uniform(0.3, 0.9)) for k in METRIC_KEYS}
                row.update(loss=name, seed=0, case_id=f"{case:03d}", ref_empty=case >= 10)
                row["dice"] = 0.2 + 0.5 * alpha - 0.1 * beta + 0.01 * case
                row.update(pred_empty=False, n_fp_lesions=1, fp_volume_mm3=5.0, train_seconds=1.0)
                row.update(n_ref_lesions=0 if case >= 10 else 2, n_pred_lesions=2)
                rows.append(row)
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    return folder


def test_a_sweep_gets_a_sensitivity_section_with_heatmaps(tmp_path: Path) -> None:
    markdown, page = build_report(_sweep_results(tmp_path / "sweep"), n_resamples=200)
    text = markdown.read_text()
    section = text[text.index("## Sensitivity of hytver") :].split("\n## ")[0]
    assert "6 variants of hytver over alpha, beta" in section
    best = next(line for line in section.splitlines() if "hytver(alpha=0.9,beta=0.5)" in line)
    assert "★" in best.split("|")[4]  # the Dice column: the best mean
    worst = next(line for line in section.splitlines() if "hytver(alpha=0.5) " in line)
    assert "≈" not in worst.split("|")[4] and "★" not in worst.split("|")[4]
    figure = tmp_path / "sweep" / "figures" / "sensitivity_hytver.png"
    assert figure.stat().st_size > 10_000
    assert "## Sensitivity of hytver" in text and "Sensitivity of hytver" in page.read_text()


def test_a_run_without_variants_has_no_sensitivity_section(tmp_path: Path) -> None:
    markdown, _ = build_report(fabricated_run(tmp_path, seeds=1), n_resamples=200)
    assert "Sensitivity" not in markdown.read_text()


def test_probed_histories_give_the_gradient_anatomy(tmp_path: Path) -> None:
    folder = fabricated_run(tmp_path / "run", seeds=1)
    for i, loss in enumerate(("dice", "ce", "hytver", "focal")):
        history = pd.DataFrame({"iteration": range(1, 21), "loss": np.linspace(1, 0.2, 20)})
        probed = history["iteration"] % 5 == 1  # steps 1, 6, 11, 16
        for j, column in enumerate(("grad_lesion", "grad_fp", "grad_fn", "grad_top90")):
            history[column] = np.where(probed, 0.1 * (i + 1) + 0.01 * j, np.nan)
        history.to_csv(folder / "trials" / f"{loss}-seed0" / "history.csv", index=False)
    markdown, _ = build_report(folder, n_resamples=200)
    text = markdown.read_text()
    section = text[text.index("## Gradient anatomy") :].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("|") and "---" not in line]
    assert [r.split("|")[1].strip() for r in rows[1:]] == ["focal", "hytver", "ce", "dice"]
    assert "40.0" in rows[1] and "43.0" in rows[1]  # focal: 0.4 on lesions, 0.43 top-90%
    assert (folder / "figures" / "gradients.png").stat().st_size > 10_000
    shares = json.loads((folder / "summary.json").read_text())["gradient_shares"]
    assert shares["dice"]["grad_fn"] == pytest.approx(0.12)
