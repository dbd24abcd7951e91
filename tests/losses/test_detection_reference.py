"""The sensitivity-specificity loss against a reference written in the tests from Brosch et al.
(MICCAI 2015, eq. 3) and the behaviour NiftyNet documents for its
``niftynet/layer/loss_segmentation.py`` ``sensitivity_specificity_loss`` (squared errors over the
lesion and the background voxels, r = 0.05, 1e-5 added to each denominator); and where it is
undefined."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lossbench.losses import create_loss
from tests._helpers import random_case


def _reference(logits: np.ndarray, target: np.ndarray, r: float) -> float:
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    y = target.astype(np.float64)
    squared = (y - p) ** 2
    sensitivity = (squared * y).sum() / max(y.sum(), 1e-5)
    specificity = (squared * (1 - y)).sum() / max((1 - y).sum(), 1e-5)
    return r * sensitivity + (1 - r) * specificity


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("r", [0.05, 0.1])
def test_sensitivity_specificity_matches_the_reference(seed: int, r: float) -> None:
    logits, target = random_case(seed, dtype=torch.float64)
    pooled = create_loss("sensitivity_specificity", r=r)(logits, target)
    assert pooled.item() == pytest.approx(_reference(logits.numpy(), target.numpy(), r), rel=1e-12)
    per_case = create_loss("sensitivity_specificity", r=r, reduction="none")(logits, target)
    expected = [_reference(logits[i].numpy(), target[i].numpy(), r) for i in range(len(logits))]
    np.testing.assert_allclose(per_case.numpy(), expected, rtol=1e-12)


def test_an_empty_target_scores_the_specificity_term_alone() -> None:
    # no lesion voxel: the sensitivity term has nothing to average and counts 0
    logits = torch.zeros(1, 1, 2, 2, 2, dtype=torch.float64)  # p = 1/2
    loss = create_loss("sensitivity_specificity")(logits, torch.zeros_like(logits))
    assert loss.item() == pytest.approx(0.95 * 0.25, rel=1e-12)


def test_topk_gradient_reaches_only_the_hardest_voxels() -> None:
    logits = torch.linspace(-3, 3, 20, dtype=torch.float64).reshape(1, 1, 1, 4, 5)
    logits.requires_grad_(True)
    create_loss("topk")(logits, torch.zeros_like(logits)).backward()  # 10% of 20: 2 voxels
    assert logits.grad is not None
    assert torch.count_nonzero(logits.grad).item() == 2
    assert logits.grad.flatten()[-2:].gt(0).all()  # the two most confident false positives
