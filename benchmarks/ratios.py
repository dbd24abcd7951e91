"""Table of median times and lossbench/MONAI ratios from a pytest-benchmark JSON report.

Usage: ``python benchmarks/ratios.py bench.json``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tabulate import tabulate


def ratio_table(report: dict) -> str:
    """Markdown table: group, lossbench median (ms), MONAI median (ms), ratio (ours / MONAI).

    Example:
        >>> stats = {"stats": {"median": 0.002}}
        >>> report = {"benchmarks": [
        ...     {"name": "test_lossbench[dice]", "group": "dice", **stats},
        ...     {"name": "test_monai[dice]", "group": "dice", "stats": {"median": 0.004}}]}
        >>> print(ratio_table(report).splitlines()[-1])
        | dice   |                       2 |                   4 |     0.5 |
    """
    medians: dict[str, dict[str, float]] = {}
    for bench in report["benchmarks"]:
        name, group = bench["name"], bench["group"]
        side = "monai" if name.startswith("test_monai") else "ours"
        if not name.startswith(("test_monai", "test_lossbench")):
            group = name.removeprefix("test_")
        medians.setdefault(group, {})[side] = bench["stats"]["median"] * 1e3
    rows = []
    for group, m in sorted(medians.items()):
        ours, monai = m.get("ours"), m.get("monai")
        ratio = f"{ours / monai:.2f}" if ours and monai else ""
        rows.append([group, f"{ours:.2f}" if ours else "", f"{monai:.2f}" if monai else "", ratio])
    headers = ["loss", "lossbench median (ms)", "MONAI median (ms)", "ratio"]
    return tabulate(rows, headers=headers, tablefmt="github")


if __name__ == "__main__":
    print(ratio_table(json.loads(Path(sys.argv[1]).read_text())))
