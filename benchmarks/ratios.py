"""Table of median times and ratios (lossbench / other) from a pytest-benchmark JSON report.

Benchmarks are paired by their group; ``test_monai*`` and ``test_medpy*`` are the other
implementations, every other test is lossbench's. Usage: ``python benchmarks/ratios.py bench.json``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tabulate import tabulate

OTHERS = ("monai", "medpy")


def ratio_table(report: dict) -> str:
    """Markdown table: group, lossbench median (ms), then median and ratio for each other one.

    Example:
        >>> report = {"benchmarks": [
        ...     {"name": "test_lossbench[dice]", "group": "dice", "stats": {"median": 0.002}},
        ...     {"name": "test_monai[dice]", "group": "dice", "stats": {"median": 0.004}}]}
        >>> print(ratio_table(report).splitlines()[-1])
        | dice        |                       2 |                   4 |              0.5 |
    """
    medians: dict[str, dict[str, float]] = {}
    for bench in report["benchmarks"]:
        side = bench["name"].split("[")[0].removeprefix("test_")
        side = side if side in OTHERS else "lossbench"
        medians.setdefault(bench["group"], {})[side] = bench["stats"]["median"] * 1e3
    others = [o for o in OTHERS if any(o in m for m in medians.values())]
    headers = ["benchmark", "lossbench median (ms)"]
    for other in others:
        headers += [f"{other} median (ms)", f"ratio to {other}"]
    rows = []
    for group, m in sorted(medians.items()):
        ours = m.get("lossbench")
        row = [group, f"{ours:.3g}" if ours else ""]
        for other in others:
            theirs = m.get(other)
            row += [f"{theirs:.3g}" if theirs else ""]
            row += [f"{ours / theirs:.2f}" if ours and theirs else ""]
        rows.append(row)
    return tabulate(rows, headers=headers, tablefmt="github")


if __name__ == "__main__":
    print(ratio_table(json.loads(Path(sys.argv[1]).read_text())))
