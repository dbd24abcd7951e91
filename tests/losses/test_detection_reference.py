"""The detection losses without a maintained oracle, against references written here from their
papers and the reference code each names (file given per reference), and where each is
undefined.

Sensitivity-specificity follows Brosch et al. (MICCAI 2015, eq. 3) and the behaviour NiftyNet
documents for ``niftynet/layer/loss_segmentation.py`` ``sensitivity_specificity_loss`` (squared
errors over the lesion and the background voxels, r = 0.05, 1e-5 added to each denominator).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

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


def _blob_reference(logits: torch.Tensor, target: torch.Tensor) -> float:
    """neuronflow/blob_loss ``blob_loss.py``: ``compute_loss`` with main weight 2 and blob weight
    1, MONAI's ``DiceLoss`` as the criterion of both terms (the global one over the batch, as
    lossbench pools it), ``compute_blob_loss_multi`` looping over cases and their components,
    masking out the other components, and averaging over the cases that have one."""
    dice = pytest.importorskip("monai.losses").DiceLoss
    p = torch.sigmoid(logits)
    main = dice(batch=True, smooth_nr=1e-5, smooth_dr=1e-5)(p, target)
    per_case = []
    for case in range(len(p)):
        labels, count = ndimage.label(target[case, 0].numpy() > 0.5)
        labels_t = torch.from_numpy(labels)
        blobs = []
        for k in range(1, count + 1):
            keep = (labels_t == 0) | (labels_t == k)
            masked = (p[case : case + 1, 0] * keep)[:, None]
            blobs.append(dice(smooth_nr=1e-5, smooth_dr=1e-5)(masked, (labels_t == k)[None, None]))
        if blobs:
            per_case.append(sum(blobs) / len(blobs))
    blob = sum(per_case) / len(per_case) if per_case else 0.0
    return float(2 * main + blob)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blob_dice_matches_the_reference_loop(seed: int) -> None:
    logits, target = random_case(seed, shape=(3, 1, 10, 11, 12), lesion_fraction=0.06)
    target[1] = 0  # a case without lesions is left out of the blob mean
    ours = create_loss("blob_dice")(logits, target).item()
    assert ours == pytest.approx(_blob_reference(logits, target), rel=1e-9)


def test_blob_dice_masks_the_other_lesions() -> None:
    # lesions at voxels 0 and 3; the prediction finds the first (p = 1) and spills onto the
    # second's neighbour (voxel 2, p = 1): lesion 2's Dice sees voxel 0 masked out
    target = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64).view(1, 1, 1, 1, 4)
    logits = torch.tensor([40.0, -40.0, 40.0, -40.0], dtype=torch.float64).view(1, 1, 1, 1, 4)
    blob = create_loss("blob_dice", global_weight=0.0, smooth=0.0)(logits, target).item()
    # lesion 1: 2 x 1 / (1 + 1 + 1) (voxel 2 is background to it); lesion 2: 0 / (1 + 1)
    assert blob == pytest.approx(((1 - 2 / 3) + 1) / 2, rel=1e-12)


def test_blob_dice_without_lesions_is_the_global_term() -> None:
    logits, _ = random_case(6, shape=(2, 1, 5, 5, 5))
    empty = torch.zeros_like(logits)
    for reduction in ("mean", "none"):
        ours = create_loss("blob_dice", reduction=reduction)(logits, empty)
        dice = create_loss("dice", reduction=reduction)(logits, empty)
        torch.testing.assert_close(ours, 2 * dice)


def _lovasz_reference(logits: np.ndarray, labels: np.ndarray) -> float:
    """bermanmaxim/LovaszSoftmax ``pytorch/lovasz_losses.py``: ``lovasz_hinge_flat`` of the
    flattened logits and labels (``per_image=False``), with ``lovasz_grad`` written out."""
    z, y = logits.reshape(-1).astype(np.float64), labels.reshape(-1).astype(np.float64)
    errors = 1.0 - z * (2.0 * y - 1.0)
    order = np.argsort(-errors, kind="stable")
    gt = y[order]
    gts = gt.sum()
    jaccard = 1.0 - (gts - np.cumsum(gt)) / (gts + np.cumsum(1.0 - gt))
    jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return float(np.dot(np.maximum(errors[order], 0.0), jaccard))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lovasz_hinge_matches_the_reference(seed: int) -> None:
    logits, target = random_case(seed, dtype=torch.float64)
    pooled = create_loss("lovasz_hinge")(logits, target).item()
    assert pooled == pytest.approx(_lovasz_reference(logits.numpy(), target.numpy()), rel=1e-12)
    per_image = create_loss("lovasz_hinge", reduction="none")(logits, target)
    expected = [_lovasz_reference(logits[i].numpy(), target[i].numpy()) for i in range(2)]
    np.testing.assert_allclose(per_image.numpy(), expected, rtol=1e-12)


def test_lovasz_hinge_without_lesions_is_the_largest_hinge_error() -> None:
    logits = torch.tensor([-3.0, 0.5, -1.0], dtype=torch.float64).view(1, 1, 1, 1, 3)
    value = create_loss("lovasz_hinge")(logits, torch.zeros_like(logits))
    assert value.item() == pytest.approx(1.5, rel=1e-12)  # relu(1 + 0.5)


def _exp_log_reference(logits: np.ndarray, target: np.ndarray) -> float:
    """SegLossOdyssey ``losses_pytorch/dice_loss.py`` ``ExpLog_loss``: 0.8 (-ln clamp(Dice,
    1e-6))^0.3 + 0.2 CE^0.3, Dice with smoothing 1e-5 on the lesion class, CE unweighted."""
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    y = target.astype(np.float64)
    dice = (2 * (p * y).sum() + 1e-5) / (p.sum() + y.sum() + 1e-5)
    ce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    return 0.8 * (-np.log(max(dice, 1e-6))) ** 0.3 + 0.2 * ce**0.3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exp_log_matches_the_reference(seed: int) -> None:
    logits, target = random_case(seed, dtype=torch.float64)
    ours = create_loss("exp_log")(logits, target).item()
    assert ours == pytest.approx(_exp_log_reference(logits.numpy(), target.numpy()), rel=1e-10)


def test_exp_log_clamps_the_dice_at_one_in_a_million() -> None:
    logits = torch.full((1, 1, 4, 4, 4), -30.0, dtype=torch.float64)
    target = torch.zeros_like(logits)
    target[..., 0, 0, 0] = 1  # one lesion voxel, missed: Dice = s / (1 + s + 63 p)
    ours = create_loss("exp_log", ce_weight=0.0, smooth=1e-8)(logits, target).item()
    assert ours == pytest.approx(0.8 * (-math.log(1e-6)) ** 0.3, rel=1e-9)
