"""Losses built for small, unbalanced objects: the blob loss and the exponential logarithmic loss.

Notation as in :mod:`lossbench.losses.region`. The blob loss needs the target's connected
components, a target map (:func:`lesion_components`) that the trainer computes with each batch,
on the CPU, as it does the boundary losses' distance maps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor

from lossbench.losses._core import (
    SMOOTH,
    Loss,
    NonNegative,
    TargetMaps,
    safe_pow,
    unit_dot,
    unit_mean,
)
from lossbench.losses.region import dice_loss
from lossbench.losses.registry import builtin_loss

if TYPE_CHECKING:

    def __getattr__(name: str) -> type[Loss]: ...  # the classes made by builtin_loss


def lesion_components(masks: Tensor) -> Tensor:
    """Connected components of each case's lesion mask, face-connected (6-connected in 3D).

    Labelled on the host by ``scipy.ndimage.label`` (a CUDA mask makes one round trip), numbered
    1..K per case in scan order, 0 for the background.

    Args:
        masks: boolean (B, *spatial).

    Returns:
        int64 tensor (B, *spatial) on the masks' device.

    Example:
        >>> masks = torch.tensor([[True, True, False, True], [False, True, False, False]])
        >>> lesion_components(masks)
        tensor([[1, 1, 0, 2],
                [0, 1, 0, 0]])
    """
    array = masks.detach().cpu().numpy()
    labels = np.zeros(array.shape, dtype=np.int64)
    for case, mask in enumerate(array):
        labels[case], _ = ndimage.label(mask)
    return torch.from_numpy(labels).to(masks.device)


def blob_dice_terms(p: Tensor, labels: Tensor, smooth: float) -> tuple[Tensor, Tensor]:
    """Each case's mean blob Dice loss and whether it has a lesion to average over.

    For lesion ``k`` of a case, the prediction is masked to keep ``k`` and the background (every
    other lesion's voxels count 0) and scored by soft Dice against ``1[g = k]``:
    ``1 - (2 S_k + s) / (S_0 + S_k + n_k + s)`` with ``S_l`` the sum of ``p`` over the voxels
    labelled ``l`` and ``n_k`` the size of lesion ``k``. All lesions of the batch are summed in
    one pass (``index_add``).

    Args:
        p: probabilities (B, *spatial).
        labels: :func:`lesion_components` of the target, (B, *spatial).
        smooth: added to numerator and denominator.

    Returns:
        ``(loss, has_lesion)``, both (B,): the mean over a case's lesions (0 without one) and a
        boolean mask.

    Example:
        >>> p = torch.tensor([[0.9, 0.0, 0.0, 0.9]])  # finds lesion 1, misses lesion 2
        >>> loss, has = blob_dice_terms(p, torch.tensor([[1, 0, 2, 0]]), smooth=0.0)
        >>> round(loss.item(), 4), has  # (1 - 1.8 / 2.8 + 1 - 0 / 1.9) / 2
        (0.6786, tensor([True]))
    """
    cases = p.shape[0]
    flat = labels.reshape(cases, -1)
    count = int(flat.max()) + 1 if flat.numel() else 1
    ids = (flat + count * torch.arange(cases, device=flat.device)[:, None]).reshape(-1)
    sums = p.new_zeros(cases * count).index_add_(0, ids, p.reshape(-1)).reshape(cases, count)
    sizes = torch.bincount(ids, minlength=cases * count).reshape(cases, count)[:, 1:].to(p)
    present = sizes > 0
    inside = sums[:, 1:]
    dice = (2 * inside + smooth) / (sums[:, :1] + inside + sizes + smooth)
    losses = torch.where(present, 1 - dice, torch.zeros_like(dice))
    lesions = present.sum(1)
    return losses.sum(1) / lesions.clamp_min(1).to(p), lesions > 0


@builtin_loss(
    "blob_dice",
    "BlobDiceLoss",
    family="region",
    citation="Kofler et al. blob loss: instance imbalance aware loss functions for semantic "
    "segmentation. IPMI 2023",
    maps={"components": lesion_components},
)
def blob_dice_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    global_weight: NonNegative = 2.0,
    blob_weight: NonNegative = 1.0,
    smooth: NonNegative = SMOOTH,
    target_maps: TargetMaps,
) -> Tensor:
    """Blob loss with soft Dice as its criterion: ``global_weight * dice + blob_weight * blob``.

    ``dice`` is :func:`lossbench.losses.dice_loss`; ``blob`` is the mean over the target's lesions
    (6-connected components of ``target > 0.5``) of a Dice loss with every *other* lesion masked
    out (:func:`blob_dice_terms`), averaged per case and then over the cases that have a lesion,
    as the reference's ``compute_blob_loss_multi`` does. The weights 2 and 1 are those Kofler et
    al. report for their multiple sclerosis experiments (the reference code's ``main_weight`` and
    ``blob_weight``). The reference masks the network output; this masks the probabilities, as
    the paper's formula does, so a masked voxel counts 0.

    Undefined without lesions: the blob term has nothing to average. A case without lesions
    gets blob term 0, and a batch without any lesion the global term alone, as the reference
    returns 0 for its blob term there. ``reduction="none"`` gives each case its own global and
    blob terms.

    Args:
        logits, target, batch, reduction: as :func:`lossbench.losses.dice_loss`.
        target_maps: optional ``{"components": labels}``, :func:`lesion_components` of the target
            (see :meth:`lossbench.losses.Loss.target_maps`); computed when not given.
        global_weight, blob_weight: weights of the two terms.
        smooth: added to numerator and denominator of every Dice.

    Returns:
        Scalar or (B,) per-case losses, unitless in [0, global_weight + blob_weight].

    Example:
        >>> z = torch.tensor([[[[[4.0, -4.0, -4.0, -4.0]]]]])  # finds lesion 1, misses lesion 2
        >>> round(blob_dice_loss(z, torch.tensor([[[[[1.0, 0.0, 1.0, 0.0]]]]])).item(), 4)
        1.1788
    """
    p = torch.sigmoid(z)
    blob, has_lesion = blob_dice_terms(p, target_maps["components"], smooth)
    if pooled:
        blob = blob.sum().reshape(1) / has_lesion.sum().clamp_min(1).to(p)
    return global_weight * dice_loss.term(z, y, pooled, smooth=smooth) + blob_weight * blob


@builtin_loss(
    "exp_log",
    "ExpLogLoss",
    family="compound",
    citation="Wong, Moradi, Tang, Syeda-Mahmood. 3D segmentation with exponential logarithmic "
    "loss for highly unbalanced object sizes. MICCAI 2018",
)
def exp_log_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    dice_weight: NonNegative = 0.8,
    ce_weight: NonNegative = 0.2,
    gamma: NonNegative = 0.3,
    smooth: NonNegative = SMOOTH,
) -> Tensor:
    """Exponential logarithmic loss: ``dice_weight (-ln Dice)^gamma + ce_weight CE^gamma``.

    As SegLossOdyssey's ``ExpLog_loss``: weights 0.8 and 0.2, one exponent 0.3 for both terms,
    the exponent applied to the mean cross-entropy (the paper applies it per voxel, with
    frequency weights the reference leaves out), and Dice clamped below at 1e-6, so that
    ``-ln Dice`` is at most 13.8. ``-ln Dice`` is computed as ``log1p((FP + FN) / (2 TP + s))``
    from counts summed voxel by voxel, so float32 keeps its relative precision near a perfect
    prediction, where the exponent magnifies any error.

    Args:
        logits, target, smooth, batch, reduction: as :func:`lossbench.losses.dice_loss`.
        dice_weight, ce_weight: weights of the two terms.
        gamma: exponent of both terms; below 1 it raises small losses, focusing training on
            the cases (and batches) that are still poorly segmented.

    Returns:
        Scalar or (B,) per-case losses, unitless.

    Example:
        >>> z, y = torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2)
        >>> round(exp_log_loss(z, y, smooth=0.0).item(), 4)  # 0.8 ln(3/2)^0.3 + 0.2 ln(2)^0.3
        0.7894
    """
    tp = unit_dot(torch.sigmoid(z), y, pooled)
    misses = unit_dot(1 - y, torch.sigmoid(z), pooled) + unit_dot(y, torch.sigmoid(-z), pooled)
    ratio = misses / (2 * tp + smooth).clamp_min(torch.finfo(z.dtype).tiny)
    neg_log_dice = torch.log1p(ratio).clamp_max(-np.log(1e-6))
    # -log p = softplus(-z) and -log(1-p) = softplus(z), each formed directly: torch's BCE (and
    # a difference of log-sigmoids) rounds the loss of a confident right voxel, 2e-9 at |z| = 20,
    # to 0 in float32, and the exponent would magnify that into an error of 5e-4
    voxel = torch.addcmul((1 - y) * F.softplus(z), y, F.softplus(-z))
    ce = unit_mean(voxel, pooled)
    return dice_weight * safe_pow(neg_log_dice, gamma) + ce_weight * safe_pow(ce, gamma)
