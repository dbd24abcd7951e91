"""``lossbench report RUN_DIR``: tables, figures, markdown and a self-contained HTML page, built
from the results table alone (no GPU, no retraining)."""

from __future__ import annotations

from lossbench.report._io import read_config
from lossbench.report.build import build_report
from lossbench.report.compare import compare_runs

__all__ = ["build_report", "compare_runs", "read_config"]
