"""``lossbench report RUN_DIR``: tables, figures, markdown and a self-contained HTML page, built
from the results table alone (no GPU, no retraining)."""

from __future__ import annotations

from lossbench.report.build import build_report

__all__ = ["build_report"]
