"""The HyTver paper's losses as its authors' code computes them, defects included.

Each ``<name>_released`` is the loss ``<name>`` as the code released with Perera et al.'s HyTver
paper (built on the CoactSeg repository) computes it, where that code departs from the published
formula. They form the family ``released``: ``--losses released`` selects them, ``--losses all``
leaves them out, and a run holding a loss and its released form reports what the defect costs
(the report's "published vs released" section). Every other loss of lossbench follows its
published formula.

Notation as in :mod:`lossbench.losses.region`; p = sigmoid(z) is the lesion channel of the
softmax, as the released code reads it, and sums run over the whole batch unless said otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses._core import (
    SMOOTH,
    Fraction,
    Interval,
    Loss,
    NonNegative,
    overlap_sums,
    safe_pow,
    unit_dot,
    unit_mean,
    unit_sum,
)
from lossbench.losses.region import dice_loss
from lossbench.losses.registry import builtin_loss

if TYPE_CHECKING:

    def __getattr__(name: str) -> type[Loss]: ...  # the classes made by builtin_loss


FAMILY = "released"
"""The family of the released variants; ``--losses released`` selects it."""

SUFFIX = "_released"
"""``<name>_released`` is the released form of the loss ``<name>``."""

KERAS_EPSILON = 1e-7
"""The clip of the unified focal losses' probabilities (Keras's ``K.epsilon()``)."""

Clip = Annotated[float, Interval(1e-12, 0.5)]

_CITATION = (
    "Perera, Fung, Baskaran. HyTver: a novel loss function for longitudinal multiple sclerosis "
    "lesion segmentation. 2025; as its authors' released code computes it"
)


def _swapped_wce(z: Tensor, y: Tensor, pooled: bool, beta: float, clip: float) -> Tensor:
    """The released modified cross-entropy, per unit: ``mean(-beta p log q + (1-beta) (1-p)
    log(1-q))`` with ``q = clamp(y, clip, 1 - clip)``.

    The prediction is passed where the label belongs (so the log is taken of the clipped label
    and the loss is linear in p) and the background term is added where it should be
    subtracted.
    """
    q = y.clamp(clip, 1 - clip)
    voxel = (1 - beta) * torch.sigmoid(-z) * torch.log1p(-q) - beta * torch.sigmoid(z) * q.log()
    return unit_mean(voxel, pooled)


@builtin_loss("hytver_released", "HyTverReleasedLoss", family=FAMILY, citation=_CITATION)
def hytver_released_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    alpha: Fraction = 0.7,
    beta: Fraction = 0.3,
    gamma: Fraction = 0.5,
    smooth: NonNegative = 1.0,
    clip: Clip = 1e-3,
) -> Tensor:
    """HyTver as released: ``gamma * wCE' + (1 - gamma) * (1 - TI')``, arguments swapped.

    The released code calls the loss with the prediction as the target. Its Tversky index
    therefore weighs false positives by ``alpha`` and false negatives by ``1 - alpha``,
    ``TI' = (TP + s) / (TP + alpha FP + (1-alpha) FN + s)`` (0.7 and 0.3: the published loss
    weighs false *negatives* by 0.7), and its cross-entropy is :func:`_swapped_wce`, linear in p,
    with the background term's sign flipped: every voxel's p is pushed down, lesion voxels'
    harder. Defaults as released: ``alpha`` 0.7, ``beta`` 0.3, ``gamma`` 0.5, ``smooth`` 1,
    ``clip`` 1e-3. Not bounded below by 0: a perfect prediction scores
    ``gamma mean((1-beta) (1-y) log(1-clip) - beta y log(1-clip))``.

    Args:
        logits, target, batch, reduction: as :func:`lossbench.losses.hytver_loss`.
        alpha: the Tversky index's false-positive weight (false negatives: ``1 - alpha``).
        beta: the cross-entropy's weight on the prediction-as-label.
        gamma: mix of the two terms.
        smooth: added to numerator and denominator of the index.
        clip: the label is clipped to ``[clip, 1 - clip]`` before its log is taken.

    Returns:
        Scalar or (B,) per-case losses.

    Example:
        >>> z, y = torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2)
        >>> round(hytver_released_loss(z, y).item(), 4)  # 0.5 (-2.4176) + 0.5 (1.2 / 6.2)
        -1.112
    """
    tp, _, _ = overlap_sums(z, y, pooled)
    fp = unit_dot(1 - y, torch.sigmoid(z), pooled)
    fn = unit_dot(y, torch.sigmoid(-z), pooled)
    misses = alpha * fp + (1 - alpha) * fn
    tversky = misses / (tp + misses + smooth).clamp_min(torch.finfo(z.dtype).tiny)
    return gamma * _swapped_wce(z, y, pooled, beta, clip) + (1 - gamma) * tversky


@builtin_loss("combo_released", "ComboReleasedLoss", family=FAMILY, citation=_CITATION)
def combo_released_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    alpha: Fraction = 0.5,
    beta: Fraction = 0.5,
    smooth: NonNegative = 1.0,
    clip: Clip = 1e-3,
) -> Tensor:
    """Combo as released: ``alpha * wCE' + (1 - alpha) * dice``, arguments swapped.

    Called, like HyTver, with the prediction as the target: its cross-entropy is
    :func:`_swapped_wce` (linear in p, background term's sign flipped); its Dice, symmetric in
    its arguments, is unchanged, with ``smooth`` 1. The released code subtracts the Dice index
    where this adds ``1 - Dice``: the two differ by a constant. Not bounded below by 0.

    Args:
        logits, target, batch, reduction: as :func:`lossbench.losses.combo_loss`.
        alpha: weight of the cross-entropy term; beta: its weight on the prediction-as-label.
        smooth, clip: as :func:`hytver_released_loss`.

    Returns:
        Scalar or (B,) per-case losses.

    Example:
        >>> z, y = torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2)
        >>> round(combo_released_loss(z, y).item(), 4)  # 0.5 (-1.7267) + 0.5 (1 - 9 / 13)
        -0.7095
    """
    wce = _swapped_wce(z, y, pooled, beta, clip)
    return alpha * wce + (1 - alpha) * dice_loss.term(z, y, pooled, smooth=smooth)


@builtin_loss("focal_released", "FocalReleasedLoss", family=FAMILY, citation=_CITATION)
def focal_released_loss(
    z: Tensor, y: Tensor, pooled: bool, *, alpha: Fraction = 0.25, gamma: NonNegative = 2.0
) -> Tensor:
    """Focal loss as released: the sigmoid focal loss applied to probabilities, not logits.

    The released code hands the softmax probability ``p`` to a focal loss that expects logits,
    so it takes ``s = sigmoid(p)``, in [1/2, 0.73], and ``BCE-with-logits(p, y)``:
    ``mean(a_t (1 - s_t)^gamma bce)``, ``s_t = s y + (1-s)(1-y)``, ``a_t = alpha y + (1-alpha)
    (1-y)``. Its loss never approaches 0: a perfect prediction still costs 0.1300 per background
    voxel and 0.0057 per lesion voxel, and its gradient with respect to the logit vanishes where
    p saturates, right or wrong.

    Args:
        logits, target, batch, reduction: as :func:`lossbench.losses.focal_loss`.
        alpha, gamma: as :func:`lossbench.losses.focal_loss`.

    Returns:
        Scalar or (B,) per-case losses, in nats.

    Example:
        >>> z = torch.full((1, 1, 1, 1, 1), -30.0)  # p = 0 on a background voxel
        >>> round(focal_released_loss(z, torch.zeros_like(z)).item(), 4)  # 0.75 / 4 log 2
        0.13
    """
    p = torch.sigmoid(z)
    s = torch.sigmoid(p)
    bce = F.binary_cross_entropy_with_logits(p, y, reduction="none")
    s_t = s * y + (1 - s) * (1 - y)
    a_t = alpha * y + (1 - alpha) * (1 - y)
    return unit_mean(a_t * (1 - s_t) ** gamma * bce, pooled)


@builtin_loss("logcosh_dice_released", "LogCoshDiceReleasedLoss", family=FAMILY, citation=_CITATION)
def logcosh_dice_released_loss(z: Tensor, y: Tensor, pooled: bool) -> Tensor:
    """Log-cosh Dice as released: ``mean(log cosh(y - p))``, voxel by voxel.

    The published loss is the log-cosh of the Dice loss; the released code applies log-cosh to
    each voxel's error instead, which makes it a smooth squared error (about ``(y - p)^2 / 2``),
    with no Dice in it.

    Args:
        logits, target, batch, reduction: as :func:`lossbench.losses.logcosh_dice_loss`.

    Returns:
        Scalar or (B,) per-case losses, in [0, log cosh 1].

    Example:
        >>> z, y = torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2)
        >>> round(logcosh_dice_released_loss(z, y).item(), 4)  # log cosh 0.5
        0.1201
    """
    error = torch.where(y > 0.5, torch.sigmoid(-z) - (1 - y), y - torch.sigmoid(z))
    return unit_mean(torch.log(torch.cosh(error)), pooled)


@builtin_loss("dice_pp_released", "DicePPReleasedLoss", family=FAMILY, citation=_CITATION)
def dice_pp_released_loss(
    z: Tensor, y: Tensor, pooled: bool, *, gamma: NonNegative = 2.0, smooth: NonNegative = SMOOTH
) -> Tensor:
    """DSC++ as released: its false-negative term is its false-positive term.

    ``1 - (2TP + s) / (2TP + 2 sum (p(1-y))^gamma + s)`` on the lesion class: the released code
    computes ``((1 - target) pred)^gamma`` for both error terms, so false negatives are never
    penalised, and a prediction that misses every lesion voxel (TP = 0, no false positive)
    scores 0, as a perfect one does. (The published loss, :func:`lossbench.losses.dice_pp_loss`,
    also averages in the background class, whose false positives are the lesion's false
    negatives; the loss here is the lesion class alone, the form in which false negatives go
    unpenalised.)

    Args:
        logits, target, smooth, batch, reduction: as :func:`lossbench.losses.dice_pp_loss`.
        gamma: exponent of the voxel-wise error terms.

    Returns:
        Scalar or (B,) per-case losses, unitless in [0, 1].

    Example:
        >>> z, y = torch.full((1, 1, 2, 2, 2), -30.0), torch.ones(1, 1, 2, 2, 2)
        >>> dice_pp_released_loss(z, y)  # every lesion voxel missed
        tensor(0.)
    """
    tp = unit_dot(torch.sigmoid(z), y, pooled)
    errors = 2 * unit_sum(safe_pow(torch.sigmoid(z) * (1 - y), gamma), pooled)
    return errors / (2 * tp + errors + smooth).clamp_min(torch.finfo(z.dtype).tiny)


def _depth_classes(owner: str, z: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(P, 1 - P, Y)``: the two-channel probabilities, clipped to ``[1e-7, 1 - 1e-7]``, and
    one-hot target, each (B, 2 channels, ..., 2), of the first two slices of the last axis.

    The released unified focal losses were ported from 2D Keras code that indexes the last axis
    for the classes; on a 3D patch that axis is depth, so their "classes" are its first two
    slices, and the rest of the patch is never seen.
    """
    if z.ndim < 2 or z.shape[-1] < 2:
        raise ValueError(
            f"{owner}: the released code takes the first two slices of the last axis as its two "
            f"classes and needs at least 2 there, got a patch of shape {tuple(z.shape[1:])}"
        )
    z2, y2 = z[..., :2], y[..., :2]
    p, q = torch.sigmoid(z2), torch.sigmoid(-z2)  # each computed directly, not as 1 - other
    low, high = KERAS_EPSILON, 1 - KERAS_EPSILON
    probs = torch.stack((q, p), 1).clamp(low, high)
    complement = torch.stack((p, q), 1).clamp(low, high)
    return probs, complement, torch.stack((1 - y2, y2), 1)


def _released_unified(
    z: Tensor, y: Tensor, pooled: bool, delta: float, gamma: float, symmetric: bool
) -> tuple[Tensor, Tensor]:
    """``(region, focal)`` per unit of the released unified focal losses."""
    owner = f"{'symmetric' if symmetric else 'asymmetric'}_unified_focal{SUFFIX}"
    probs, complement, onehot = _depth_classes(owner, z, y)
    dims = tuple(range(1, probs.ndim - 1))  # channels and space: per case and "class" (slice)
    tp = (onehot * probs).sum(dims)
    misses = delta * (onehot * complement).sum(dims) + (1 - delta) * ((1 - onehot) * probs).sum(
        dims
    )
    miss = misses / (tp + misses + KERAS_EPSILON)  # 1 - index, (B, 2)
    lesion = safe_pow(miss[:, 1], 1 - gamma)
    background = safe_pow(miss[:, 0], 1 - gamma) if symmetric else miss[:, 0]
    region = (background + lesion) / 2
    region = region.mean().reshape(1) if pooled else region
    log_p = probs.log()
    ce = -onehot * log_p if symmetric else onehot * log_p  # asymmetric: the sign as released
    back = (1 - delta) * complement[..., 0] ** gamma * ce[..., 0]
    fore = delta * (complement[..., 1] ** gamma if symmetric else 1) * ce[..., 1]
    return region, unit_mean(back + fore, pooled)


@builtin_loss(
    "symmetric_unified_focal_released",
    "SymmetricUnifiedFocalReleasedLoss",
    family=FAMILY,
    citation=_CITATION,
)
def symmetric_unified_focal_released_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    weight: Fraction = 0.5,
    delta: Fraction = 0.6,
    gamma: Fraction = 0.5,
) -> Tensor:
    """Symmetric unified focal loss as released: its "classes" are the first two depth slices.

    The formula of :func:`lossbench.losses.symmetric_unified_focal_loss` with probabilities
    clipped to ``[1e-7, 1 - 1e-7]`` and smoothing 1e-7, as in the Keras original, but where the
    original indexes classes on the last axis, the port indexes the patch's depth: class 0 is
    depth slice 0 and class 1 depth slice 1, each summing both channels, in the Tversky part,
    and the focal part reads the two channels of those two slices alone. Every other slice of
    the patch gets no gradient. Region sums are per case, averaged over the batch, as released.

    Args:
        logits, target, batch, reduction: as :func:`lossbench.losses.symmetric_unified_focal_loss`;
            the last axis needs at least two slices.
        weight, delta, gamma: as :func:`lossbench.losses.symmetric_unified_focal_loss`.

    Returns:
        Scalar or (B,) per-case losses.

    Raises:
        ValueError: a patch with fewer than two slices on its last axis.

    Example:
        >>> z, y = torch.zeros(1, 1, 2, 2, 3), torch.ones(1, 1, 2, 2, 3)
        >>> round(symmetric_unified_focal_released_loss(z, y).item(), 4)  # 0.7071 / 2 + 0.245 / 2
        0.4761
    """
    region, focal = _released_unified(z, y, pooled, delta, gamma, symmetric=True)
    return weight * region + (1 - weight) * focal


@builtin_loss(
    "asymmetric_unified_focal_released",
    "AsymmetricUnifiedFocalReleasedLoss",
    family=FAMILY,
    citation=_CITATION,
)
def asymmetric_unified_focal_released_loss(
    z: Tensor,
    y: Tensor,
    pooled: bool,
    *,
    weight: Fraction = 0.5,
    delta: Fraction = 0.6,
    gamma: Fraction = 0.5,
) -> Tensor:
    """Asymmetric unified focal loss as released: depth slices for classes, and the
    cross-entropy's sign flipped.

    As :func:`symmetric_unified_focal_released_loss` with the asymmetric formula of
    :func:`lossbench.losses.asymmetric_unified_focal_loss`, except that its cross-entropy is
    ``+y log p`` where ``-y log p`` belongs: the focal part rewards putting low probability on
    the true class of those two slices (down to the clip, ``log 1e-7 = -16.1``), so the loss
    is not bounded below by 0.

    Args:
        logits, target, weight, delta, gamma, batch, reduction: as
            :func:`symmetric_unified_focal_released_loss`.

    Returns:
        Scalar or (B,) per-case losses.

    Raises:
        ValueError: a patch with fewer than two slices on its last axis.

    Example:
        >>> z, y = torch.zeros(1, 1, 2, 2, 3), torch.ones(1, 1, 2, 2, 3)
        >>> round(asymmetric_unified_focal_released_loss(z, y).item(), 4)  # 0.6036/2 - 0.306/2
        0.1488
    """
    region, focal = _released_unified(z, y, pooled, delta, gamma, symmetric=False)
    return weight * region + (1 - weight) * focal
