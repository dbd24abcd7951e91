"""The tuned protocol (``tune.budget > 1``): every loss gets the same number of configurations,
chosen on validation cases carved from the training cases, before its final trainings.

- **Candidates** (:func:`candidates`): a loss's defaults first, then a seeded Sobol sample over
  its declared ranges (:func:`lossbench.losses.space.search_space`) and ``tune.lr``, each value
  rounded to three significant digits, until ``tune.budget`` distinct configurations; a loss with
  fewer distinct configurations uses what it has.
- **Tuning trials** are ordinary trials of the run's grid, named ``tuning/<variant>@lr=<lr>``
  and seeded ``tune.seed``. Each trains on the training cases outside the validation split and
  is scored on the validation split. The inputs it gets (:func:`tuning_inputs`) hold no test
  case: its split's test part *is* the validation part.
- **Selection** (:func:`select`): the candidate with the best mean ``tune.metric`` over the
  validation cases with lesions; a tie goes to the earlier candidate, the defaults first. The
  final trial of a loss trains the chosen configuration on all training cases with the run's
  seeds and is evaluated on the test cases. ``tuning.csv`` lists every configuration tried.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lossbench.config import Config
from lossbench.data.split import CaseSet, Split
from lossbench.inputs import RunInputs
from lossbench.losses.space import search_space
from lossbench.losses.variants import parse_variant, shortest

__all__ = [
    "TUNING",
    "Candidate",
    "all_trials",
    "candidates",
    "parse_trial",
    "select",
    "trial_plan",
    "tuning_grid",
    "tuning_inputs",
    "tuning_table",
]

TUNING = "tuning"
"""The tuning trials' folder under ``trials/`` and the prefix of their names."""


@dataclass(frozen=True)
class Candidate:
    """One configuration of a loss: a variant (canonical id) and a learning rate.

    Attributes:
        loss: the run's loss (name or variant) it is a candidate of.
        variant: the configuration's canonical id.
        lr: its learning rate.
        default: whether it is the loss's own configuration at ``train.lr``.
    """

    loss: str
    variant: str
    lr: float
    default: bool

    @property
    def trial(self) -> str:
        """The tuning trial's name in the run's grid (and its folder under ``trials/``).

        Example:
            >>> Candidate("hytver", "hytver(beta=0.5)", 0.003, False).trial
            'tuning/hytver(beta=0.5)@lr=0.003'
        """
        return f"{TUNING}/{self.variant}@lr={shortest(self.lr)}"


def parse_trial(name: str) -> tuple[str, float] | None:
    """``(variant, lr)`` of a tuning trial's name, None for a final trial's.

    Example:
        >>> parse_trial("tuning/hytver(beta=0.5)@lr=0.003"), parse_trial("hytver")
        (('hytver(beta=0.5)', 0.003), None)
    """
    if not name.startswith(f"{TUNING}/"):
        return None
    variant, _, lr = name.removeprefix(f"{TUNING}/").rpartition("@lr=")
    return variant, float(lr)


def _three_digits(value: float) -> float:
    return float(f"{value:.3g}")


def _configuration(
    name: str,
    fixed: dict[str, float],
    space: dict[str, tuple[float, float]],
    rates: list[float],
    point: np.ndarray,
) -> tuple[str, float]:
    """The variant and learning rate at a point of the unit cube (the ranges' dimensions, then
    the learning rate's when there are several)."""
    values = {
        key: _three_digits(low + u * (high - low))
        for (key, (low, high)), u in zip(space.items(), point[: len(space)], strict=True)
    }
    lr = rates[min(int(point[-1] * len(rates)), len(rates) - 1)] if len(rates) > 1 else rates[0]
    params = ",".join(f"{k}={shortest(v)}" for k, v in {**fixed, **values}.items())
    return parse_variant(f"{name}({params})").id, lr


def candidates(loss: str, config: Config) -> list[Candidate]:
    """The configurations a loss is tuned over: at most ``tune.budget``, its defaults first.

    Example:
        >>> from lossbench.config import preset
        >>> config = preset("tuned")
        >>> [c.variant for c in candidates("hytver", config)][:2]
        ['hytver', 'hytver(alpha=0.727,beta=0.502,gamma=0.779)']
        >>> [(c.variant, c.lr) for c in candidates("dice", config)]  # only the learning rate
        [('dice', 0.0003), ('dice', 0.001), ('dice', 0.0001)]
    """
    base = parse_variant(loss)
    fixed = base.kwargs
    space = {k: r for k, r in search_space(base.name).items() if k not in fixed}
    rates = list(dict.fromkeys([config.train.lr, *config.tune.lr]))
    found = [Candidate(loss, base.id, config.train.lr, True)]
    dims = len(space) + (len(rates) > 1)
    budget = config.tune.budget
    if dims == 0 or budget == 1:
        return found
    from scipy.stats import qmc

    rng = np.random.default_rng([config.tune.seed, zlib.crc32(loss.encode())])
    sampler = qmc.Sobol(dims, scramble=True, seed=rng)
    points = sampler.random_base2(max(4, math.ceil(math.log2(4 * budget))))
    seen = {(found[0].variant, found[0].lr)}
    for point in points:
        variant, lr = _configuration(base.name, fixed, space, rates, point)
        if (variant, lr) not in seen:
            seen.add((variant, lr))
            found.append(Candidate(loss, variant, lr, False))
        if len(found) == budget:
            break
    return found


def tuning_grid(config: Config, losses: Sequence[str]) -> list[tuple[str, int]]:
    """The tuning trials of a tuned run, loss by loss, each once (``[]`` without tuning).

    Example:
        >>> from lossbench.config import preset
        >>> len(tuning_grid(preset("tuned"), ["dice", "hytver"]))  # 3 learning rates + 8
        11
    """
    if config.tune.budget <= 1:
        return []
    names = [c.trial for loss in losses for c in candidates(loss, config)]
    return [(name, config.tune.seed) for name in dict.fromkeys(names)]


def all_trials(run: RunInputs) -> list[tuple[str, int]]:
    """Every trial of a run, in the order ``lossbench trial --index`` counts them: the tuning
    trials (a tuned run's), then the final trials."""
    return tuning_grid(run.config, run.resolved.losses) + run.grid()


def tuning_inputs(run: RunInputs) -> RunInputs:
    """The inputs of a tuning trial: ``run`` with a split whose training part is the training
    cases outside the validation part and whose test part is the validation part, so the test
    cases are out of its reach.

    Raises:
        ValueError: the run has no validation part (it does not tune).
    """
    split = run.resolved.split
    if split.validation is None:
        raise ValueError(f"{run.layout.root} does not tune: its splits.json has no validation")
    held = set(split.validation.case_ids)
    train = CaseSet(
        split.train.root,
        tuple(c for c in split.train.case_ids if c not in held),
        split.train.nnunet_part,
    )
    resolved = dataclasses.replace(run.resolved, split=Split(train, split.validation))
    return dataclasses.replace(run, resolved=resolved)


def _validation_scores(run: RunInputs, candidate: Candidate) -> dict[str, float] | None:
    """Mean Dice, lesion F1 and HD95 of a finished tuning trial over the validation cases with
    lesions (NaN for a trial stopped by a non-finite loss); None while it has not finished."""
    trial = run.layout.trial(candidate.trial, run.config.tune.seed)
    if not trial.metrics.exists():  # a non-finite loss scores the configuration out
        return (
            dict.fromkeys(("dice", "lesion_f1", "hd95"), math.nan)
            if trial.failed.exists()
            else None
        )
    table = pd.read_csv(trial.metrics, dtype={"case_id": str})
    lesions = table[~table["ref_empty"].astype(bool)]
    return {m: float(np.nanmean(lesions[m])) for m in ("dice", "lesion_f1", "hd95")}


def select(run: RunInputs, loss: str) -> tuple[Candidate, pd.DataFrame]:
    """The chosen configuration of ``loss`` and its candidates' validation scores.

    Raises:
        ValueError: a tuning trial of ``loss`` has not finished (named with the count).
    """
    pool = candidates(loss, run.config)
    scores = [_validation_scores(run, c) for c in pool]
    missing = [c.trial for c, s in zip(pool, scores, strict=True) if s is None]
    if missing:
        raise ValueError(
            f"{loss}: {len(missing)} of its {len(pool)} tuning trials have not finished "
            f"({missing[0]}, ...): run them first (`lossbench trial {run.layout.root} --list`)"
        )
    metric = run.config.tune.metric
    values = [s[metric] if s and math.isfinite(s[metric]) else -math.inf for s in scores]
    best = int(np.argmax(values))  # the first of equal values: the defaults win a tie
    rows = pd.DataFrame(
        [
            {"loss": loss, "candidate": i, "variant": c.variant, "lr": c.lr, "default": c.default}
            | (s or {})
            | {"chosen": i == best}
            for i, (c, s) in enumerate(zip(pool, scores, strict=True))
        ]
    )
    return pool[best], rows


def tuning_table(run: RunInputs) -> pd.DataFrame:
    """``tuning.csv``: every configuration tried, per loss, with its validation scores, whether
    it was chosen, and the loss's budget and how much of it went unused."""
    frames = []
    for loss in run.resolved.losses:
        _, rows = select(run, loss)
        budget = run.config.tune.budget
        frames.append(rows.assign(budget=budget, unused=budget - len(rows)))
    return pd.concat(frames, ignore_index=True)


def trial_plan(run: RunInputs, name: str) -> tuple[str, float | None, RunInputs]:
    """What the trial ``name`` of a run trains and where its cases come from: ``(loss or
    variant, learning rate or None for train.lr, inputs)``. A tuning trial trains its
    configuration on :func:`tuning_inputs`; a tuned run's final trial trains the configuration
    :func:`select` chose on the run's own inputs; any other trial trains its loss.

    Raises:
        ValueError: a tuned run's final trial whose tuning trials have not finished.
    """
    tuning = parse_trial(name)
    if tuning is not None:
        return tuning[0], tuning[1], tuning_inputs(run)
    if run.config.tune.budget > 1:
        chosen, _ = select(run, name)
        return chosen.variant, chosen.lr, run
    return name, None, run
