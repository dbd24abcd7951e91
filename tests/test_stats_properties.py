"""hypothesis invariants of the verdict: the order of rows and the names of losses do not matter."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lossbench.report.verdict import verdict_markdown
from lossbench.stats import Summary, case_matrix, summarise

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
METRICS = ["dice", "hd95"]


@st.composite
def results_tables(draw):
    losses, seeds, cases = draw(st.integers(2, 4)), draw(st.integers(1, 2)), draw(st.integers(3, 7))
    shape = (losses, seeds, cases)
    dice = draw(arrays(np.float64, shape, elements=st.floats(0, 1)))
    hd95 = draw(arrays(np.float64, shape, elements=st.floats(0, 30)))
    missed = draw(arrays(np.bool_, shape))
    lesion_free = draw(st.integers(0, 1))  # the last case may have no reference lesion
    rows = []
    for (i, s, c), value in np.ndenumerate(dice):
        empty_ref = bool(lesion_free and c == cases - 1)
        rows.append(
            {
                "loss": f"loss{i}",
                "seed": s,
                "case_id": f"{c:03d}",
                "dice": value,
                "hd95": np.nan if missed[i, s, c] else hd95[i, s, c],
                "ref_empty": empty_ref,
                "pred_empty": bool(missed[i, s, c]),
                "diagonal_mm": 40.0 + c,
            }
        )
    return pd.DataFrame(rows)


def summary(results: pd.DataFrame) -> Summary:
    return summarise(results, METRICS, n_resamples=100)


@SETTINGS
@given(results=results_tables(), order=st.randoms(use_true_random=False))
def test_the_verdict_ignores_the_order_of_rows_and_of_losses(results, order) -> None:
    index = list(results.index)
    order.shuffle(index)
    shuffled = results.loc[index].reset_index(drop=True)
    assert summary(shuffled) == summary(results)
    assert verdict_markdown(summary(shuffled)) == verdict_markdown(summary(results))


@SETTINGS
@given(results=results_tables(), order=st.randoms(use_true_random=False))
def test_renaming_the_losses_permutes_the_rankings(results, order) -> None:
    names = sorted(results["loss"].unique())
    for metric in METRICS:  # ties in the means would be broken by name
        means = case_matrix(results, metric).mean()
        assume(means.notna().all() and means.nunique() == len(means))
    permuted = names.copy()
    order.shuffle(permuted)
    rename = dict(zip(names, permuted, strict=True))
    before, after = summary(results), summary(results.assign(loss=results["loss"].map(rename)))
    for metric in METRICS:
        old, new = before["metrics"][metric], after["metrics"][metric]
        assert new["ranking"] == [rename[n] for n in old["ranking"]]
        assert new["not_worse_than_best"] == [rename[n] for n in old["not_worse_than_best"]]
        for key in ("mean", "penalised", "p_first"):
            assert new[key] == {rename[n]: v for n, v in old[key].items()}
    assert after["seeds"] == before["seeds"]
