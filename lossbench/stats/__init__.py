"""Statistics of a results table, as data, then functions.

- :mod:`.scores`: the results table turned once into arrays, cases x methods x seeds per metric,
  with the missing-distance policy applied and the penalised values marked
  (:class:`Scores`, :class:`ScoreTable`);
- :mod:`.estimators`: pure array functions (bootstrap, coefficient of variation, Holm,
  Hodges-Lehmann, Wilcoxon, Friedman ranks, Kendall's W), every random draw seeded;
- :mod:`.rankings`: comparisons of methods on one metric's scores (pairwise tests, critical
  difference groups, rank-first probability, seed and run agreement);
- :mod:`.summary`: the typed :class:`Summary` that the verdict, the report, ``summary.json`` and
  ``lossbench compare`` read;
- :mod:`.frame`: the same statistics straight from a results table, for scripts.

Aggregation protocol (MSSEG-2's): segmentation and detection metrics are averaged over the test
cases that have reference lesions; lesion-free cases are summarised by their false-positive
lesions. With several seeds a case's value is first averaged over seeds.
"""

from __future__ import annotations

from lossbench.config.schema import NAN_POLICIES
from lossbench.stats.estimators import (
    HodgesLehmann,
    Interval,
    bootstrap_ci,
    bootstrap_means,
    coefficient_of_variation,
    friedman_ranks,
    hodges_lehmann,
    holm,
    kendall_w,
    signed_rank_cdf,
    wilcoxon_p,
)
from lossbench.stats.frame import (
    aggregate,
    case_matrix,
    false_positives,
    friedman,
    overview,
    paired_tests,
    pairwise_tests,
    penalised_counts,
    rank_agreement,
    rank_first_probability,
    seed_agreement,
    seed_spread,
)
from lossbench.stats.rankings import (
    FriedmanResult,
    RankAgreement,
    against,
    critical_difference_groups,
    first_place,
    friedman_of,
    pairwise,
    planned_pairs,
    ranking,
    run_agreement,
    seed_concordance,
    seed_noise,
    statistics,
)
from lossbench.stats.scores import (
    FALLBACK_DIAGONAL_MM,
    SUMMARY_METRICS,
    Scores,
    ScoreTable,
    check_nan_policy,
    method_column,
)
from lossbench.stats.summary import (
    Comparison,
    MetricSummary,
    Protocol,
    SeedSummary,
    Summary,
    Tau,
    summarise,
)

__all__ = [
    "FALLBACK_DIAGONAL_MM",
    "NAN_POLICIES",
    "SUMMARY_METRICS",
    "Comparison",
    "FriedmanResult",
    "HodgesLehmann",
    "Interval",
    "MetricSummary",
    "Protocol",
    "RankAgreement",
    "ScoreTable",
    "Scores",
    "SeedSummary",
    "Summary",
    "Tau",
    "against",
    "aggregate",
    "bootstrap_ci",
    "bootstrap_means",
    "case_matrix",
    "check_nan_policy",
    "coefficient_of_variation",
    "critical_difference_groups",
    "false_positives",
    "first_place",
    "friedman",
    "friedman_of",
    "friedman_ranks",
    "hodges_lehmann",
    "holm",
    "kendall_w",
    "method_column",
    "overview",
    "paired_tests",
    "pairwise",
    "pairwise_tests",
    "penalised_counts",
    "planned_pairs",
    "rank_agreement",
    "rank_first_probability",
    "ranking",
    "run_agreement",
    "seed_agreement",
    "seed_concordance",
    "seed_noise",
    "seed_spread",
    "signed_rank_cdf",
    "statistics",
    "summarise",
    "wilcoxon_p",
]
