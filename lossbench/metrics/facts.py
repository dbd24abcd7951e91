"""One table of metric facts: key, name, unit, direction and display precision.

Statistics, tables, figures, the verdict and ``summary.json`` read a metric's direction, label
and format from here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["METRICS", "MetricFacts", "facts"]


@dataclass(frozen=True)
class MetricFacts:
    """What a metric of the results table is.

    Attributes:
        key: the column of the results table.
        name: short display name (``"HD95"``).
        unit: ``"mm"`` for distances, ``""`` for unitless scores.
        higher_is_better: direction of the metric.
        digits: decimals shown in tables.

    Example:
        >>> facts("hd95").label, facts("hd95").header, facts("hd95").format(4.567)
        ('HD95 (mm)', 'HD95 (mm) ↓', '4.57')
    """

    key: str
    name: str
    unit: str
    higher_is_better: bool
    digits: int

    @property
    def label(self) -> str:
        """The name with its unit, e.g. ``"HD95 (mm)"``."""
        return f"{self.name} ({self.unit})" if self.unit else self.name

    @property
    def header(self) -> str:
        """The label with the direction's arrow, for table headers."""
        return f"{self.label} {'↑' if self.higher_is_better else '↓'}"

    @property
    def is_distance(self) -> bool:
        """A surface distance: NaN in a row when exactly one of the two masks is empty."""
        return self.unit == "mm"

    def format(self, value: float, signed: bool = False) -> str:
        """``value`` with the metric's decimals (``"n/a"`` when not finite); ``signed`` adds the
        sign, and a rounding residue shows as ``+0.000``, never ``-0.000``."""
        if value != value or value in (float("inf"), float("-inf")):
            return "n/a"
        text = f"{value:{'+' if signed else ''}.{self.digits}f}"
        return f"{0.0:{'+' if signed else ''}.{self.digits}f}" if float(text) == 0 else text


_TABLE = [
    MetricFacts("dice", "DC", "", True, 3),
    MetricFacts("jaccard", "JC", "", True, 3),
    MetricFacts("precision", "PR", "", True, 3),
    MetricFacts("recall", "RC", "", True, 3),
    MetricFacts("nsd", "NSD", "", True, 3),
    MetricFacts("lesion_precision", "lesion PR", "", True, 3),
    MetricFacts("lesion_recall", "lesion RC", "", True, 3),
    MetricFacts("lesion_f1", "lesion F1", "", True, 3),
    MetricFacts("hd", "HD", "mm", False, 2),
    MetricFacts("hd95", "HD95", "mm", False, 2),
    MetricFacts("asd", "ASD", "mm", False, 2),
    MetricFacts("assd", "ASSD", "mm", False, 2),
    MetricFacts("ece", "ECE", "", False, 4),
    MetricFacts("brier", "Brier", "", False, 4),
]

METRICS: dict[str, MetricFacts] = {m.key: m for m in _TABLE}
"""Every scored metric of the results table, by key."""


def facts(metric: str) -> MetricFacts:
    """The facts of ``metric``; a column not in :data:`METRICS` (a user's own score) is taken as
    a unitless score where higher is better, shown with 3 decimals under its own name.

    Example:
        >>> facts("dice").higher_is_better, facts("my_score").label
        (True, 'my_score')
    """
    return METRICS.get(metric) or MetricFacts(metric, metric, "", True, 3)
