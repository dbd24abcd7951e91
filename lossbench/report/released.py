"""The report's "published vs released" section: what each defect of the paper's released code
costs, for every loss that a run holds in both forms (``<name>`` and ``<name>_released``)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from lossbench.losses.released import SUFFIX
from lossbench.metrics.facts import facts
from lossbench.report.tables import hl_interval
from lossbench.stats import ScoreTable, Summary, planned_pairs

__all__ = ["RELEASED_METRICS", "released_pairs", "released_section"]

RELEASED_METRICS = ("dice", "hd95", "lesion_f1")


def released_pairs(methods: Sequence[str]) -> list[tuple[str, str]]:
    """``(released, published)`` for every released variant whose published loss is there too.

    Example:
        >>> released_pairs(["dice", "hytver", "hytver_released", "focal_released"])
        [('hytver_released', 'hytver')]
    """
    return [
        (name, name.removesuffix(SUFFIX))
        for name in sorted(methods)
        if name.endswith(SUFFIX) and name.removesuffix(SUFFIX) in methods
    ]


def released_table(
    table: ScoreTable, pairs: Sequence[tuple[str, str]], ranking: Sequence[str]
) -> pd.DataFrame:
    """One row per published loss: the paired difference released minus published on each of
    :data:`RELEASED_METRICS` (Hodges-Lehmann estimate, its 95% CI, the Wilcoxon p-value
    Holm-corrected over the pairs shown), and both forms' places in the Dice ranking.

    Example:
        >>> t = pd.DataFrame({"loss": ["a"] * 6 + ["a_released"] * 6, "seed": 0,
        ...     "ref_empty": False, "case_id": [str(i) for i in range(6)] * 2,
        ...     "dice": [0.5] * 6 + [0.4] * 6, "hd95": 1.0, "lesion_f1": 0.5})
        >>> pairs, ranking = [("a_released", "a")], ["a", "a_released"]
        >>> row = released_table(ScoreTable.from_results(t), pairs, ranking)
        >>> row.loc["a"].tolist()[:2], row.loc["a"].iloc[-1]
        (['-0.100 [-0.100, -0.100]', '0.031'], '1 → 2 of 2')
    """
    out = pd.DataFrame(index=pd.Index([published for _, published in pairs], name="loss"))
    for metric in RELEASED_METRICS:
        if metric not in table.scores:
            continue
        label = facts(metric).label
        frame = planned_pairs(table.scores[metric], pairs)
        out[f"Δ{label} released - published (HL [95% CI])"] = [
            hl_interval(facts(metric), r.hl, r.low, r.high) for r in frame.itertuples()
        ]
        out[f"p {label} (Holm)"] = [f"{p:.3f}" for p in frame["p_holm"]]
    place = {name: i + 1 for i, name in enumerate(ranking)}
    out["Dice rank: published → released"] = [
        f"{place[published]} → {place[released]} of {len(ranking)}" for released, published in pairs
    ]
    return out


def released_section(table: ScoreTable, summary: Summary) -> tuple[str, str, pd.DataFrame] | None:
    """The section (title, text, table) for a run holding losses in both forms, else None."""
    pairs = released_pairs(table.methods)
    if not pairs:
        return None
    _, many = summary.words
    count = f"{len(pairs)} pair{'s' if len(pairs) > 1 else ''}"
    text = (
        "Each paper loss against its form in the authors' released code (the family "
        "`released`; lossbench's losses follow the published formulas): the Hodges-Lehmann "
        "estimate of the per-case difference, released minus published, with its "
        "distribution-free 95% CI, and the two-sided Wilcoxon signed-rank p-value, "
        f"Holm-corrected over the {count} shown (per metric). Per-case values are averaged"
        " over seeds. The last column gives each form's place in this run's ranking "
        f"of {many} by mean Dice: what the defect costs."
    )
    ranking = summary.metrics["dice"].ranking
    return ("Published vs released", text, released_table(table, pairs, ranking))
