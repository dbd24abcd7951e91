"""The verdict: what the evidence of a run supports, in plain words, from its summary alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lossbench.config import Config
from lossbench.metrics.facts import facts

__all__ = [
    "DAGGER",
    "VERDICT_METRICS",
    "describe_protocol",
    "verdict_markdown",
    "words",
]

VERDICT_METRICS = ("dice", "hd95", "lesion_f1")
"""The metrics the verdict speaks of, when the summary has them."""

DAGGER = "†"
"""Mark of the pretraining loss in every table and figure."""


def describe_protocol(config: Config | None) -> dict[str, Any]:
    """How the losses were trained, for the verdict and ``summary.json``.

    Returns:
        ``{"preset", "init", "pretrain_loss", "text"}``: ``init`` is ``"pretrain"`` (fine-tuned
        from one shared pretraining), ``"scratch"``, ``"file"`` or ``"unknown"`` (no config);
        ``pretrain_loss`` names the loss every trial started from, when it is known.

    Example:
        >>> from lossbench.config import preset
        >>> describe_protocol(preset("quick"))["text"].split(" from ")[1]
        'one shared pretraining with dice_ce (400 iterations)'
    """
    if config is None:
        return {
            "preset": None,
            "init": "unknown",
            "pretrain_loss": None,
            "text": "unknown (the run folder has no config.toml)",
        }
    train = config.train
    out: dict[str, Any] = {"preset": config.preset, "init": train.init, "pretrain_loss": None}
    if train.init == "pretrain":
        out["pretrain_loss"] = train.pretrain_loss
        out["text"] = (
            f"every loss fine-tuned for {train.iterations} iterations from one shared "
            f"pretraining with {train.pretrain_loss} ({train.pretrain_iterations} iterations)"
        )
    elif train.init == "scratch":
        out["text"] = f"every loss trained from scratch for {train.iterations} iterations"
    else:
        out["init"] = "file"
        out["text"] = (
            f"every loss fine-tuned for {train.iterations} iterations from the weights in "
            f"{Path(train.init).name}"
        )
    return out


def _names(names: list[str], mark: str | None) -> str:
    return ", ".join(f"{n}{DAGGER}" if n == mark else n for n in names) or "none"


def _value(metric: str, value: float | None) -> str:
    fact = facts(metric)
    if value is None:
        return "n/a"
    return f"{fact.format(value)} {fact.unit}".strip()


def words(summary: dict[str, Any]) -> tuple[str, str]:
    """What the compared things are called, singular and plural: ``("loss", "losses")`` for a
    run, ``("method", "methods")`` for ``lossbench score`` (``summary["unit"]``).

    Example:
        >>> words({"unit": "method"})
        ('method', 'methods')
    """
    return ("method", "methods") if summary.get("unit") == "method" else ("loss", "losses")


def _metric_line(
    metric: str, entry: dict[str, Any], n_losses: int, mark: str | None, one: str, many: str
) -> str:
    best = entry["ranking"][0]
    group, worse = entry["not_worse_than_best"], entry["significantly_worse"]
    higher = entry["higher_is_better"]
    label = facts(metric).label
    line = (
        f"- **{label}** ({'higher' if higher else 'lower'} is better): best mean "
        f"{_names([best], mark)} ({_value(metric, entry['mean'][best])}). "
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
    penalised = {k: v for k, v in entry["penalised"].items() if v}
    if penalised:
        line += (
            " Cases given the worst value: "
            + ", ".join(f"{_names([k], mark)} {v}" for k, v in sorted(penalised.items()))
            + "."
        )
    return line


def _seed_line(summary: dict[str, Any]) -> str:
    seeds = summary["seeds"]
    if seeds["n"] < 2:
        return (
            "- **Seeds**: one seed, so how far the ranking moves when only the seed changes is "
            "not measured here; run several (`--seeds 0,1,2`, or `--preset standard`)."
        )
    metric = "dice" if "dice" in summary["metrics"] else next(iter(summary["metrics"]))
    entry = summary["metrics"][metric]
    label = facts(metric).label
    line = f"- **Seeds** ({seeds['n']}): "
    seed_sd, between = entry["seed_sd"], entry["between_sd"]
    if seed_sd is not None and between:
        line += (
            f"the seed-to-seed SD of a loss's mean {label} is {seed_sd:.3f} (median over "
            f"losses), against {between:.3f} between the losses' means: seed noise is "
            f"{seed_sd / between:.0%} of the spread between losses. "
        )
    w = seeds["kendall_w"].get(metric)
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


def _protocol_line(summary: dict[str, Any]) -> str:
    comparisons = summary.get("comparisons") or []
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
            f"{t['tau']:.2f} on {facts(m).label} (p = {t['p']:.2g})"
            for m, t in other["tau"].items()
            if t["tau"] is not None
        )
        dice = other["tau"].get("dice", {})
        carries = dice.get("tau") is not None and dice["tau"] >= 0.5 and dice["p"] < 0.05
        if not taus:
            n = min((t["n"] for t in other["tau"].values()), default=0)
            taus = f"not computable ({no_tau(n)})"
        parts.append(
            f"against {other['run']} ({other['protocol']}), Kendall's tau between the rankings "
            f"is {taus}: the Dice ranking "
            + ("carries over to that protocol." if carries else "does not carry over to it.")
        )
    return "- **Protocol**: " + " ".join(p[0].upper() + p[1:] for p in parts)


def verdict_markdown(summary: dict[str, Any]) -> str:
    """The report's opening section: what the evidence supports, in plain words.

    Built from :func:`lossbench.stats.summarise`'s dictionary alone, plus the optional keys
    ``protocol`` (:func:`describe_protocol`) and ``comparisons`` (rank agreement with other
    runs: ``[{"run", "protocol", "tau": {metric: {"tau", "p", "n"}}}]``).

    Example:
        >>> import pandas as pd
        >>> from lossbench.stats import summarise
        >>> t = pd.DataFrame({"loss": ["a"] * 6 + ["b"] * 6, "seed": 0, "ref_empty": False,
        ...     "case_id": [str(i) for i in range(6)] * 2, "dice": [0.9] * 6 + [0.1] * 6})
        >>> text = verdict_markdown(summarise(t, n_resamples=100))
        >>> print(text.splitlines()[-1])  # doctest: +ELLIPSIS
        Caution: one seed and 6 test cases with lesions. ...
    """
    protocol = summary.get("protocol") or describe_protocol(None)
    mark = protocol.get("pretrain_loss")
    one, many = words(summary)
    losses = summary[many]
    metrics = [m for m in VERDICT_METRICS if m in summary["metrics"]] or list(summary["metrics"])
    n_pairs = len(losses) * (len(losses) - 1) // 2
    policy = (
        "a distance that is missing because exactly one mask is empty counts as the worst "
        "value, the case's image diagonal"
        if summary["nan_policy"] == "worst"
        else "a distance that is missing because exactly one mask is empty is left out"
    )
    head = f"**Protocol**: {protocol['text']}."
    if mark in losses:
        head += (
            f" {mark} (marked {DAGGER} in every table and figure) is also one of the compared "
            "losses: every loss started from its optimum."
        )
    head += (
        f" {len(losses)} {many}, "
        + (
            f"{summary['seeds']['n']} seed{'s' if summary['seeds']['n'] != 1 else ''}, "
            if one == "loss"
            else ""
        )
        + f"{summary['n_cases']} test cases ({summary['n_lesion_cases']} with new lesions); "
        f"{policy}."
    )
    everywhere = [
        n for n in losses if all(n in summary["metrics"][m]["not_worse_than_best"] for m in metrics)
    ]
    labels = ", ".join(facts(m).label for m in metrics)
    where = "under this protocol" if one == "loss" else "on these cases"
    if len(everywhere) == len(losses) > 1:
        short = (
            f"**In short**: {where} no {one} is significantly worse than the best on "
            f"any of {labels}: the evidence does not pick a {one}."
        )
    elif everywhere:
        short = (
            f"**In short**: {where}, the {many} never significantly worse than the "
            f"best on {labels} are {_names(sorted(everywhere), mark)}"
        )
        short += (
            f"; the evidence does not single out one {one}."
            if len(everywhere) > 1
            else f": it is the one {one} the evidence supports."
        )
    else:
        short = (
            f"**In short**: {where} no {one} is among the best on all of {labels}; "
            "the choice depends on the metric that matters to you."
        )
    lines = [
        head,
        "",
        short,
        "",
        (
            f"Not worse than the best means: a paired Wilcoxon signed-rank test against the best "
            f"{one} (per-case values{', seeds averaged' if one == 'loss' else ''}) that is not "
            f"significant at "
            f"{summary.get('alpha', 0.05):g} after Holm's correction over all {n_pairs} pairs."
        ),
        "",
    ]
    lines += [_metric_line(m, summary["metrics"][m], len(losses), mark, one, many) for m in metrics]
    if one == "loss":  # seeds and training protocols are a run's, not scored predictions'
        lines += [_seed_line(summary), _protocol_line(summary)]
    caveats = []
    if summary["seeds"]["n"] < 2 and one == "loss":
        caveats.append("one seed")
    if summary["n_lesion_cases"] < 20:
        caveats.append(f"{summary['n_lesion_cases']} test cases with lesions")
    if caveats:
        lines += [
            "",
            (
                f"Caution: {' and '.join(caveats)}. Differences of a few hundredths between {many} "
                "are within what a different seed or a different set of cases gives; use several "
                "seeds and at least 20 cases with lesions before drawing conclusions."
            ),
        ]
    return "\n".join(lines)
