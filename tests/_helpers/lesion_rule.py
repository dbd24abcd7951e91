"""A deliberately plain transcription of the MSSEG-2 lesion-detection rule, voxel by voxel,
written from the rule's text (not from lossbench's code) to serve as a test oracle."""

from __future__ import annotations

import itertools
import math

import numpy as np


def components(mask: np.ndarray, connectivity: int) -> list[set[tuple[int, int, int]]]:
    """Connected components as sets of voxel coordinates, by flood fill."""
    if connectivity == 6:
        steps = [s for s in itertools.product((-1, 0, 1), repeat=3) if sum(map(abs, s)) == 1]
    else:
        steps = [s for s in itertools.product((-1, 0, 1), repeat=3) if any(s)]
    seen: set[tuple[int, int, int]] = set()
    found = []
    for start in map(tuple, np.argwhere(mask)):
        if start in seen:
            continue
        comp, stack = set(), [start]
        seen.add(start)
        while stack:
            v = stack.pop()
            comp.add(v)
            for s in steps:
                w = (v[0] + s[0], v[1] + s[1], v[2] + s[2])
                inside = all(0 <= w[i] < mask.shape[i] for i in range(3))
                if inside and mask[w] and w not in seen:
                    seen.add(w)
                    stack.append(w)
        found.append(comp)
    return found


def is_detected(
    lesion: set, others: list[set], alpha: float, beta: float, gamma: float, own_set: list[set]
) -> bool:
    """Is ``lesion`` detected by the lesions ``others``? ``own_set`` is the lesion's own family
    (all lesions of its mask), against which the others' outside share is measured."""
    overlaps = [(len(lesion & o), len(o), o) for o in others if lesion & o]
    covered = sum(n for n, _, _ in overlaps)
    if not covered / len(lesion) > alpha:
        return False
    overlaps.sort(key=lambda t: (-t[0], -t[1]))
    union_own = set().union(*own_set)
    taken = 0
    for n, size, other in overlaps:
        if len(other - union_own) / size > beta:
            return False
        taken += n
        if taken / covered >= gamma:
            break
    return True


def detection(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing,
    min_lesion_mm3: float = 3.0,
    alpha: float = 0.1,
    beta: float = 0.7,
    gamma: float = 0.65,
    connectivity: int = 6,
) -> dict:
    """n_ref, n_pred, ref_detected, pred_detected, fp_volume_mm3 by the plain rule."""
    voxel = float(np.prod(spacing))
    limit = math.floor(min_lesion_mm3 / voxel)
    refs = [c for c in components(ref, connectivity) if len(c) > limit]
    preds = [c for c in components(pred, connectivity) if len(c) > limit]
    ref_hit = [is_detected(r, preds, alpha, beta, gamma, refs) for r in refs]
    pred_hit = [is_detected(p, refs, alpha, beta, gamma, preds) for p in preds]
    return {
        "n_ref": len(refs),
        "n_pred": len(preds),
        "ref_detected": sum(ref_hit),
        "pred_detected": sum(pred_hit),
        "fp_volume_mm3": sum(len(p) for p, hit in zip(preds, pred_hit, strict=True) if not hit)
        * voxel,
    }
