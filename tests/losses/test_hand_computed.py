"""Every loss on a 2x2x2 volume whose answer can be checked on paper.

p = [3/4, 1/4, 1/2, 1/2, 1/4, 1/4, 1/4, 1/4] (logits ln 3, -ln 3, 0, ...), y = [1, 1, 0, ..., 0]:
TP = 1, sum p = 3, sum y = 2, FP = 2, FN = 1, N = 8; smoothing 0 unless stated.
Voxel flat order is (d, h, w) row-major; voxels 0 and 1 are (0,0,0) and (0,0,1).
"""

from __future__ import annotations

import math

import pytest
import torch

from lossbench.losses import create_loss, list_losses, loss_defaults

L3, L4, L2 = math.log(4 / 3), math.log(4), math.log(2)  # -log(3/4), -log(1/4), -log(1/2)
P = torch.tensor([0.75, 0.25, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25], dtype=torch.float64)
LOGITS = torch.log(P / (1 - P)).reshape(1, 1, 2, 2, 2)
TARGET = torch.tensor([1, 1, 0, 0, 0, 0, 0, 0], dtype=torch.float64).reshape(1, 1, 2, 2, 2)

CE = (5 * L3 + L4 + 2 * L2) / 8  # y=1: -ln .75, -ln .25; y=0: -ln .5 (x2), -ln .75 (x4)
FOCAL = (
    0.25 * 0.0625 * L3 + 0.25 * 0.5625 * L4 + 0.75 * 0.25 * L2 * 2 + 0.75 * 0.0625 * L3 * 4
) / 8
WCE_07 = (0.7 * (L3 + L4) + 0.3 * (2 * L2 + 4 * L3)) / 8
TVERSKY_37 = 1 - 1 / (1 + 0.3 * 2 + 0.7 * 1)
MTI1, MTI0 = 1 / (1 + 0.6 * 1 + 0.4 * 2), 4 / (4 + 0.6 * 2 + 0.4 * 1)  # delta = 0.6
UF_BG = 0.4 * (math.sqrt(0.5) * L2 * 2 + math.sqrt(0.25) * L3 * 4)  # background focal terms
SUF_FOCAL = (0.6 * math.sqrt(0.25) * L3 + 0.6 * math.sqrt(0.75) * L4 + UF_BG) / 8
AUF_FOCAL = (0.6 * L3 + 0.6 * L4 + UF_BG) / 8
# distance maps (voxels): to the other class of the target / of the prediction p > 0.5 (voxel 0)
D_Y = [1, 1, 1, 1, 1, 1, math.sqrt(2), math.sqrt(2)]
D_P = [1, 1, 1, math.sqrt(2), 1, math.sqrt(2), math.sqrt(2), math.sqrt(3)]
ERR = [(p - y) ** 2 for p, y in zip(P.tolist(), TARGET.flatten().tolist(), strict=True)]
HAUSDORFF = sum(e * (a**2 + b**2) for e, a, b in zip(ERR, D_Y, D_P, strict=True)) / 8
# level set of the target: 0 on the two (boundary) lesion voxels, D_Y outside; mean(phi p)
BOUNDARY_TERM = (0.5 + 0.5 + 0.25 + 0.25 + 2 * 0.25 * math.sqrt(2)) / 8
GDL = 1 - 2 * (4 / 36 + 1 / 4) / (11 / 36 + 5 / 4)
# hinge errors 1 - z(2y - 1): 1 + ln 3 (voxel 1), 1, 1 (voxels 2, 3), the rest 1 - ln 3 < 0;
# Lovasz weights of the sorted labels 1, 0, 0: 1/2, 2/3 - 1/2, 3/4 - 2/3
LOVASZ = (1 + math.log(3)) / 2 + 1 / 6 + 1 / 12
# released: clipped labels q = 0.999 (lesion), 0.001 (background); sum over voxels of
# (1-beta)(1-p) log(1-q) - beta p log q = A (1 - 3 beta) + B (4 - 5 beta), A = ln 1e-3, B = ln .999
A, B = math.log(1e-3), math.log(0.999)
WCE_SWAPPED_03, WCE_SWAPPED_05 = (0.1 * A + 2.5 * B) / 8, (-0.5 * A + 1.5 * B) / 8


def _focal_released_voxel(p: float, y: float) -> float:
    s = 1 / (1 + math.exp(-p))  # the probability taken for a logit
    bce = -(y * math.log(s) + (1 - y) * math.log(1 - s))
    s_t = s if y else 1 - s
    return (0.25 if y else 0.75) * (1 - s_t) ** 2 * bce


FOCAL_RELEASED = (
    sum(
        _focal_released_voxel(p, y)
        for p, y in zip(P.tolist(), TARGET.flatten().tolist(), strict=True)
    )
    / 8
)
LOGCOSH_RELEASED = (5 * math.log(math.cosh(0.25)) + math.log(math.cosh(0.75))) / 8 + 2 * math.log(
    math.cosh(0.5)
) / 8
# released unified focal: classes are the last axis's slices w = 0 (voxels 0 2 4 6) and w = 1
# (1 3 5 7), both channels summed; FN = FP = sum |y - p| there, so miss = 1.25 and 1.75 of 4
EPS = 1e-7
MISS0, MISS1 = 1.25 / (4 + EPS), 1.75 / (4 + EPS)
RELEASED_BG = math.sqrt(0.5) * L2 + 2 * 0.5 * L3  # background channel, y = 0: voxels 2 4 6 / 3 5 7
SUF_RELEASED = (0.4 * 0.5 * L3 + 0.6 * math.sqrt(0.75) * L4 + RELEASED_BG) / 8
AUF_RELEASED = -(0.4 * 0.5 * L3 + 0.6 * L4 + 0.4 * RELEASED_BG + 0.6 * (L2 + 2 * L3)) / 8

CASES = [
    ("dice", {}, 1 - 2 / 5),
    ("ce", {}, CE),
    ("focal", {}, FOCAL),
    ("tversky", {}, TVERSKY_37),
    ("tversky", {"fp_weight": 0.5, "fn_weight": 0.5}, 1 - 2 / 5),
    ("focal_tversky", {}, TVERSKY_37**0.75),
    ("logcosh_dice", {}, math.log(math.cosh(0.6))),
    ("dice_ce", {}, 0.6 + CE),
    ("dice_ce", {"lambda_dice": 2.0, "lambda_ce": 0.5}, 1.2 + CE / 2),
    ("focal_dice", {}, 0.6 + FOCAL),
    ("combo", {}, 0.5 * CE / 2 + 0.5 * 0.6),
    ("weighted_ce", {}, (0.9 * (L3 + L4) + 0.1 * (2 * L2 + 4 * L3)) / (0.9 * 2 + 0.1 * 6)),
    ("hytver", {}, 0.5 * WCE_07 + 0.5 * TVERSKY_37),
    ("generalized_dice", {}, GDL),
    # DSC++ of lesion and background (TP_0 = 4; the background's errors are the lesion's)
    ("dice_pp", {}, 1 - (2 / (2 + 0.75 + 0.625) + 8 / (8 + 0.75 + 0.625)) / 2),
    (
        "symmetric_unified_focal",
        {},
        0.5 * (math.sqrt(1 - MTI0) + math.sqrt(1 - MTI1)) / 2 + 0.5 * SUF_FOCAL,
    ),
    (
        "asymmetric_unified_focal",
        {},
        0.5 * ((1 - MTI0) + math.sqrt(1 - MTI1)) / 2 + 0.5 * AUF_FOCAL,
    ),
    ("hausdorff_dt", {}, HAUSDORFF),
    ("boundary", {}, GDL + 0.01 * BOUNDARY_TERM),  # weights at the start of training
    ("boundary", {"progress": 1.0}, 0.1 * GDL + BOUNDARY_TERM),  # and at its end
    # voxel CEs sorted: L4 (voxel 1), L2, L2, then five L3; k% of 8 voxels, floored, at least 1
    ("topk", {}, L4),  # 10%: 0.8 -> 1 voxel
    ("topk", {"k": 25.0}, (L4 + L2) / 2),
    ("topk", {"k": 50.0}, (L4 + 2 * L2 + L3) / 4),
    ("topk", {"k": 100.0}, CE),
    ("dice_topk", {}, 0.6 + L4),
    ("dice_topk", {"lambda_dice": 0.5, "k": 25.0}, 0.3 + (L4 + L2) / 2),
    # squared errors: lesion 1/16 + 9/16 over 2 voxels; background 2/4 + 4/16 over 6 voxels
    ("sensitivity_specificity", {}, 0.05 * 0.3125 + 0.95 * 0.125),
    ("sensitivity_specificity", {"r": 0.5}, 0.5 * 0.3125 + 0.5 * 0.125),
    # one lesion (voxels 0 and 1 touch): its blob Dice is the global one, 2 / (2 + 1 + 2)
    ("blob_dice", {}, 2 * 0.6 + 0.6),
    ("blob_dice", {"global_weight": 0.0, "blob_weight": 0.5}, 0.3),
    ("exp_log", {}, 0.8 * math.log(1 / 0.4) ** 0.3 + 0.2 * CE**0.3),
    ("exp_log", {"gamma": 1.0}, 0.8 * math.log(1 / 0.4) + 0.2 * CE),
    ("lovasz_hinge", {}, LOVASZ),
    ("log_hausdorff_dt", {}, math.log1p(HAUSDORFF)),
    ("hytver_released", {}, 0.5 * WCE_SWAPPED_03 + 0.5 * 1.7 / 2.7),  # FP 0.7 x 2, FN 0.3 x 1
    ("hytver_released", {"smooth": 1.0}, 0.5 * WCE_SWAPPED_03 + 0.5 * 1.7 / 3.7),
    ("combo_released", {}, 0.5 * WCE_SWAPPED_05 + 0.5 * 0.6),
    ("focal_released", {}, FOCAL_RELEASED),
    ("logcosh_dice_released", {}, LOGCOSH_RELEASED),
    ("dice_pp_released", {}, 1.5 / 3.5),  # errors 2 (2 x 1/4 + 4 x 1/16), no false negatives
    (
        "symmetric_unified_focal_released",
        {},
        0.5 * (math.sqrt(MISS0) + math.sqrt(MISS1)) / 2 + 0.5 * SUF_RELEASED,
    ),
    (
        "asymmetric_unified_focal_released",
        {},
        0.5 * (MISS0 + math.sqrt(MISS1)) / 2 + 0.5 * AUF_RELEASED,
    ),
]


@pytest.mark.parametrize(("name", "params", "expected"), CASES)
def test_hand_computed(name: str, params: dict, expected: float) -> None:
    if "smooth" in loss_defaults(name):
        params = {"smooth": 0.0, **params}
    value = create_loss(name, **params)(LOGITS, TARGET)
    assert value.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_every_loss_has_a_hand_computed_case() -> None:
    builtin = {n for n in list_losses() if create_loss(n).__module__.startswith("lossbench.")}
    assert builtin <= {name for name, _, _ in CASES}


def test_smoothing_enters_numerator_and_denominator() -> None:
    value = create_loss("dice", smooth=0.5)(LOGITS, TARGET)
    assert value.item() == pytest.approx(1 - (2 + 0.5) / (5 + 0.5), rel=1e-12)


def test_batch_pooling_versus_per_case() -> None:
    # case 2 is case 1 with the prediction made perfect on the lesion: pooled != mean per case
    logits = torch.cat([LOGITS, torch.where(TARGET > 0, 50.0, -50.0).to(LOGITS)])
    target = torch.cat([TARGET, TARGET])
    pooled = create_loss("dice", smooth=0.0)(logits, target)
    per_case = create_loss("dice", smooth=0.0, reduction="none")(logits, target)
    assert pooled.item() == pytest.approx(1 - (2 + 4) / (5 + 4), rel=1e-9)
    assert per_case.tolist() == pytest.approx([0.6, 0.0], abs=1e-9)
    assert create_loss("dice", smooth=0.0, batch=False)(logits, target).item() == pytest.approx(
        0.3, abs=1e-9
    )
