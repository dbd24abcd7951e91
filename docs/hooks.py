"""MkDocs hooks: tables generated at build time, so the pages never go stale.

- ``<!-- losses-table -->`` becomes the table of the registered losses (name, family,
  default hyper-parameters, citation), read from :mod:`lossbench.losses` when the site is built.
- ``<!-- benchmark-table: FILE -->`` becomes a table of the medians in the pytest-benchmark JSON
  report ``docs/benchmarks/FILE``: one row per benchmark group, lossbench's median first, then
  the median of each other implementation in the group (MONAI, MedPy) and how many times faster
  lossbench is. ``<!-- benchmark-info: FILE -->`` becomes one line saying when, on what and
  with which versions that report was measured.
- ``on_files`` publishes the example report's figures (``reports/quick/figures/*.png``) under
  ``figures/quick/`` in the site, so the guide shows the same figures as the report.

Declared under ``hooks:`` in ``mkdocs.yml``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

LOSSES_TABLE = "<!-- losses-table -->"
BENCHMARK = re.compile(r"<!-- benchmark-(table|info): ([\w.-]+\.json) -->")
OTHERS = {"monai": "MONAI", "medpy": "MedPy"}  # test_<other>[...] benchmarks; the rest are ours
HIDDEN_DEFAULTS = ("batch", "reduction")  # shared by every loss: stated once on the page
ROOT = Path(__file__).resolve().parents[1]  # the repository: this file is docs/hooks.py
FIGURES = Path("reports/quick/figures")


def _cell(text: object) -> str:
    """A markdown table cell: no pipes, no line breaks."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def losses_table() -> str:
    """Markdown table of every registered loss, plugins included, in ``list_losses()`` order."""
    from lossbench.losses import get_loss_class, list_losses, loss_defaults

    rows = [
        "| loss | family | defaults | citation |",
        "|---|---|---|---|",
    ]
    for name in list_losses():
        cls = get_loss_class(name)
        defaults = ", ".join(
            f"{key}={_number(value)}"
            for key, value in loss_defaults(name).items()
            if key not in HIDDEN_DEFAULTS
        )
        family = getattr(cls, "family", "")
        citation = getattr(cls, "citation", "")
        rows.append(
            f"| `{name}` | {_cell(family)} | {_cell(defaults) or '-'} | {_cell(citation)} |"
        )
    return "\n".join(rows)


def _side(name: str) -> str:
    """``test_monai[dice]`` -> ``monai``; every benchmark that is not another library's is ours."""
    side = name.split("[")[0].removeprefix("test_")
    return side if side in OTHERS else "lossbench"


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.3g}"


def _speedup(ours: float, theirs: float) -> str:
    ratio = theirs / ours
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2f}x"


def benchmark_table(report: dict[str, Any]) -> str:
    """Markdown table of a pytest-benchmark report: median ms per group, ours against the others.

    Groups keep the order in which the report first lists them. A speed-up is the other
    implementation's median over lossbench's: above 1x, lossbench is faster.
    """
    medians: dict[str, dict[str, float]] = {}
    for bench in report["benchmarks"]:
        group = bench.get("group") or bench["name"]
        medians.setdefault(group, {})[_side(bench["name"])] = bench["stats"]["median"]
    others = [key for key in OTHERS if any(key in sides for sides in medians.values())]
    header = ["benchmark", "lossbench (ms)"]
    for key in others:
        header += [f"{OTHERS[key]} (ms)", f"speed-up over {OTHERS[key]}"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group, sides in medians.items():
        ours = sides.get("lossbench")
        cells = [_cell(group), _ms(ours) if ours is not None else ""]
        for key in others:
            theirs = sides.get(key)
            cells.append(_ms(theirs) if theirs is not None else "")
            cells.append(_speedup(ours, theirs) if ours and theirs is not None else "")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def benchmark_info(report: dict[str, Any]) -> str:
    """One line: when and where the report was measured, and how many rounds each median took."""
    machine = report.get("machine_info", {})
    cpu = machine.get("cpu", {})
    rounds = [bench["stats"]["rounds"] for bench in report["benchmarks"]]
    when = str(report.get("datetime", "?"))[:10]
    return (
        f"Measured {when} with pytest-benchmark {report.get('version', '?')}, "
        f"Python {machine.get('python_version', '?')}, on {cpu.get('count', '?')} cores of "
        f"{_cell(cpu.get('brand_raw', 'an unnamed CPU'))} ({machine.get('system', '?')}); "
        f"each median over {min(rounds)} to {max(rounds)} rounds."
    )


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the placeholders of a page with the tables they stand for."""
    if LOSSES_TABLE in markdown:
        markdown = markdown.replace(LOSSES_TABLE, losses_table())

    def expand(match: re.Match[str]) -> str:
        kind, name = match.groups()
        path = Path(config["docs_dir"]) / "benchmarks" / name
        if not path.is_file():
            raise FileNotFoundError(f"{page.file.src_uri} names {path}, which does not exist")
        report = json.loads(path.read_text(encoding="utf-8"))
        return benchmark_table(report) if kind == "table" else benchmark_info(report)

    return BENCHMARK.sub(expand, markdown)


def on_files(files: Files, config: Any) -> Files:
    """Publish the example report's figures under ``figures/quick/``."""
    for figure in sorted((ROOT / FIGURES).glob("*.png")):
        files.append(
            File.generated(config, f"figures/quick/{figure.name}", abs_src_path=str(figure))
        )
    return files
