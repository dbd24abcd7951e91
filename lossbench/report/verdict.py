"""The verdict: what the evidence of a run supports, in plain words, from its summary alone."""

from __future__ import annotations

from pathlib import Path

from lossbench.config import Config
from lossbench.metrics.facts import facts
from lossbench.stats import MetricSummary, Protocol, Summary
from lossbench.stats.summary import UNKNOWN

__all__ = [
    "DAGGER",
    "SCORED",
    "VERDICT_METRICS",
    "describe_protocol",
    "verdict_markdown",
]

VERDICT_METRICS = ("dice", "hd95", "lesion_f1")
"""The metrics the verdict speaks of, when the summary has them."""

DAGGER = "†"
"""Mark of the pretraining loss in every table and figure."""


def describe_protocol(config: Config | None) -> Protocol:
    """How the losses were trained, for the verdict and ``summary.json``: ``init`` is
    ``"pretrain"`` (fine-tuned from one shared pretraining), ``"scratch"``, ``"file"`` or
    ``"unknown"`` (no config); ``pretrain_loss`` names the loss every trial started from.

    Example:
        >>> from lossbench.config import preset
        >>> describe_protocol(preset("quick")).text.split(" from ")[1]
        'one shared pretraining with dice_ce (400 iterations)'
    """
    if config is None:
        return UNKNOWN
    train = config.train
    if train.init == "pretrain":
        text = (
            f"every loss fine-tuned for {train.iterations} iterations from one shared "
            f"pretraining with {train.pretrain_loss} ({train.pretrain_iterations} iterations)"
        )
        return Protocol(config.preset, "pretrain", train.pretrain_loss, text)
    if train.init == "scratch":
        text = f"every loss trained from scratch for {train.iterations} iterations"
        return Protocol(config.preset, "scratch", None, text)
    text = (
        f"every loss fine-tuned for {train.iterations} iterations from the weights in "
        f"{Path(train.init).name}"
    )
    return Protocol(config.preset, "file", None, text)


SCORED = Protocol(
    None,
    "scored",
    None,
    "each method's predictions scored against the reference masks (lossbench score)",
)
"""The protocol of ``lossbench score``'s methods: predictions made elsewhere."""


def _names(names: list[str], mark: str | None) -> str:
    return ", ".join(f"{n}{DAGGER}" if n == mark else n for n in names) or "none"


def _value(metric: str, value: float | None) -> str:
    fact = facts(metric)
    if value is None:
        return "n/a"
    return f"{fact.format(value)} {fact.unit}".strip()


def _metric_line(
    metric: str, entry: MetricSummary, n_losses: int, mark: str | None, one: str, many: str
) -> str:
    best = entry.ranking[0]
    group, worse = entry.not_worse_than_best, entry.significantly_worse
    higher = entry.higher_is_better
    label = facts(metric).label
    line = (
        f"- **{label}** ({'higher' if higher else 'lower'} is better): best mean "
        f"{_names([best], mark)} ({_value(metric, entry.mean[best])}). "
    )
    if len(group) == 1:
        line += f"Every other {one} is significantly worse."
    elif not worse:
        line += f"None of the other {n_losses - 1} {many} can be told apart from it."
    else:
        line += (
            f"Cannot be told apart from it: {_names(group[1:], mark)} (with the best, "
            f"{len(group)} of {n_losses} {many}). Significantly worse: {_names(worse, mark)}."
        )
    penalised = {k: v for k, v in entry.penalised.items() if v}
    if penalised:
        line += (
            " Cases given the worst value: "
            + ", ".join(f"{_names([k], mark)} {v}" for k, v in sorted(penalised.items()))
            + "."
        )
    return line


def _seed_line(summary: Summary) -> str:
    seeds = summary.seeds
    if seeds.n < 2:
        return (
            "- **Seeds**: one seed, so how far the ranking moves when only the seed changes is "
            "not measured here; run several (`--seeds 0,1,2`, or `--preset standard`)."
        )
    metric = "dice" if "dice" in summary.metrics else next(iter(summary.metrics))
    entry = summary.metrics[metric]
    label = facts(metric).label
    line = f"- **Seeds** ({seeds.n}): "
    seed_sd, between = entry.seed_sd, entry.between_sd
    if seed_sd is not None and between:
        line += (
            f"the seed-to-seed SD of a loss's mean {label} is {seed_sd:.3f} (median over "
            f"losses), against {between:.3f} between the losses' means: seed noise is "
            f"{seed_sd / between:.0%} of the spread between losses. "
        )
    w = seeds.kendall_w.get(metric)
    if w is not None:
        agree = "agree well" if w >= 0.7 else "agree only partly" if w >= 0.4 else "disagree"
        line += (
            f"The per-seed {label} rankings {agree}: Kendall's W = {w:.2f} (0 = no agreement, "
            "1 = identical)."
        )
    return line


def no_tau(n: int) -> str:
    """Why Kendall's tau between two runs' rankings of ``n`` shared losses is undefined.

    Example:
        >>> no_tau(1)
        'tau cannot be computed: the runs share 1 loss, and a ranking needs at least 2'
    """
    if n < 2:
        losses = f"{n} loss{'' if n == 1 else 'es'}"
        return f"tau cannot be computed: the runs share {losses}, and a ranking needs at least 2"
    return (
        "tau cannot be computed: in one of the runs every shared loss has the same mean, so "
        "that run does not rank them"
    )


def _protocol_line(summary: Summary) -> str:
    comparisons = summary.comparisons
    if not comparisons:
        return (
            "- **Protocol**: loss rankings have been measured to change with the training "
            "protocol (fine-tuned from a pretraining versus from scratch), so this verdict holds "
            "for the protocol above only. Check it with a second run under another protocol "
            "(`lossbench run --preset scratch`) and `lossbench compare RUN_A RUN_B` (or "
            "`lossbench report RUN --compare OTHER_RUN`)."
        )
    parts = []
    for other in comparisons:
        taus = ", ".join(
            f"{t.tau:.2f} on {facts(m).label} (p = {t.p:.2g})"
            for m, t in other.tau.items()
            if t.tau is not None and t.p is not None
        )
        dice = other.tau.get("dice")
        carries = (
            dice is not None
            and dice.tau is not None
            and dice.p is not None
            and dice.tau >= 0.5
            and dice.p < 0.05
        )
        if not taus:
            n = min((t.n for t in other.tau.values()), default=0)
            taus = f"not computable ({no_tau(n)})"
        parts.append(
            f"against {other.run} ({other.protocol}), Kendall's tau between the rankings "
            f"is {taus}: the Dice ranking "
            + ("carries over to that protocol." if carries else "does not carry over to it.")
        )
    return "- **Protocol**: " + " ".join(p[0].upper() + p[1:] for p in parts)


def _head(summary: Summary, mark: str | None) -> str:
    """The verdict's first paragraph: the protocol, the methods, seeds, cases and policy."""
    one, many = summary.words
    methods = summary.methods
    policy = (
        "a distance that is missing because exactly one mask is empty counts as the worst "
        "value, the case's image diagonal"
        if summary.nan_policy == "worst"
        else "a distance that is missing because exactly one mask is empty is left out"
    )
    head = f"**Protocol**: {summary.protocol.text}."
    if mark in methods:
        head += (
            f" {mark} (marked {DAGGER} in every table and figure) is also one of the compared "
            "losses: every loss started from its optimum."
        )
    n = summary.seeds.n
    seeds = f"{n} seed{'s' if n != 1 else ''}, " if one == "loss" else ""
    return (
        f"{head} {len(methods)} {many}, {seeds}{summary.n_cases} test cases "
        f"({summary.n_lesion_cases} with new lesions); {policy}."
    )


def _short(summary: Summary, metrics: list[str], mark: str | None) -> str:
    """The verdict's "in short": which methods are never significantly worse than the best."""
    one, many = summary.words
    methods = summary.methods
    everywhere = [
        n for n in methods if all(n in summary.metrics[m].not_worse_than_best for m in metrics)
    ]
    labels = ", ".join(facts(m).label for m in metrics)
    where = "under this protocol" if one == "loss" else "on these cases"
    if len(everywhere) == len(methods) > 1:
        return (
            f"**In short**: {where} no {one} is significantly worse than the best on "
            f"any of {labels}: the evidence does not pick a {one}."
        )
    if not everywhere:
        return (
            f"**In short**: {where} no {one} is among the best on all of {labels}; "
            "the choice depends on the metric that matters to you."
        )
    short = (
        f"**In short**: {where}, the {many} never significantly worse than the "
        f"best on {labels} are {_names(sorted(everywhere), mark)}"
    )
    if len(everywhere) > 1:
        return short + f"; the evidence does not single out one {one}."
    return short + f": it is the one {one} the evidence supports."


def _caution(summary: Summary) -> list[str]:
    one, many = summary.words
    caveats = []
    if summary.seeds.n < 2 and one == "loss":
        caveats.append("one seed")
    if summary.n_lesion_cases < 20:
        caveats.append(f"{summary.n_lesion_cases} test cases with lesions")
    if not caveats:
        return []
    return [
        "",
        (
            f"Caution: {' and '.join(caveats)}. Differences of a few hundredths between {many} "
            "are within what a different seed or a different set of cases gives; use several "
            "seeds and at least 20 cases with lesions before drawing conclusions."
        ),
    ]


def verdict_markdown(summary: Summary) -> str:
    """The report's opening section: what the evidence supports, in plain words, built from
    the :class:`~lossbench.stats.Summary` alone (its protocol and comparisons included).

    Example:
        >>> import pandas as pd
        >>> from lossbench.stats import summarise
        >>> t = pd.DataFrame({"loss": ["a"] * 6 + ["b"] * 6, "seed": 0, "ref_empty": False,
        ...     "case_id": [str(i) for i in range(6)] * 2, "dice": [0.9] * 6 + [0.1] * 6})
        >>> text = verdict_markdown(summarise(t, n_resamples=100))
        >>> print(text.splitlines()[-1])  # doctest: +ELLIPSIS
        Caution: one seed and 6 test cases with lesions. ...
    """
    mark = summary.protocol.pretrain_loss
    one, many = summary.words
    methods = summary.methods
    metrics = [m for m in VERDICT_METRICS if m in summary.metrics] or list(summary.metrics)
    n_pairs = len(methods) * (len(methods) - 1) // 2
    lines = [
        _head(summary, mark),
        "",
        _short(summary, metrics, mark),
        "",
        (
            f"Not worse than the best means: a paired Wilcoxon signed-rank test against the best "
            f"{one} (per-case values{', seeds averaged' if one == 'loss' else ''}) that is not "
            f"significant at {summary.alpha:g} after Holm's correction over all {n_pairs} pairs."
        ),
        "",
    ]
    lines += [_metric_line(m, summary.metrics[m], len(methods), mark, one, many) for m in metrics]
    if one == "loss":  # seeds and training protocols are a run's, not scored predictions'
        lines += [_seed_line(summary), _protocol_line(summary)]
    return "\n".join(lines + _caution(summary))
