"""animaSegPerfAnalyzer's lesion detection, transcribed into plain Python as a test oracle.

Written from the C++ of Anima-Public (``animaSegPerfCAnalyzer.cxx``: ``formatLabels``,
``checkNumberOfLabels``, ``getOverlapTab``, ``getTruePositiveLesions``,
``falsePositiveRatioTester``, ``getDetectionMarks``, ``computeEmptyGroundTruthMeasures``;
``animaSegPerfApp.cxx``: ``play``, ``checkParamsCoherence``) and from what ITK's
``ConnectedComponentImageFilter`` and ``RelabelComponentImageFilter`` produce, not from lossbench.
Plain loops over voxels and lists, one step per step of the C++, so each line can be compared
with its source.

Images are numpy arrays indexed ``[x, y, z]`` (ITK's index order, and nibabel's array order);
ITK walks them in raster order, x fastest, then y, then z.

Where anima's own result is not determined by its source, :class:`NotDeterminedByAnima` is raised
instead of guessing:

* ``falsePositiveRatioTester`` loops while ``k < pi_iNbLabelsTest`` over a vector of
  ``pi_iNbLabelsTest - 1`` elements. It only gets there when the float sum of the overlap shares
  stays below gamma after every component (gamma = 1 and a sum of 0.9999999999999999) and no
  component failed beta; the C++ then reads past the vector (undefined behaviour).
* ``std::sort`` does not keep equal elements in order. GCC's libstdc++ sorts ranges of at most
  16 elements by insertion sort, which does; longer vectors with equal non-zero overlaps get an
  order that depends on the standard library anima was built with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA, BETA, GAMMA, MIN_VOLUME = 0.10, 0.70, 0.65, 3.0  # animaSegPerfApp's defaults
LIBSTDCXX_INSERTION_SORT_MAX = 16


class NotDeterminedByAnima(Exception):
    """anima's C++ leaves the result of this input undefined or unspecified."""


def format_labels(image: np.ndarray) -> np.ndarray:
    """``formatLabels``: each voxel becomes the rank of its value among the image's sorted
    distinct values (so an image holding only 1 becomes all 0)."""
    useful = sorted({int(v) for v in image.ravel()})
    out = np.zeros(image.shape, dtype=np.int64)
    nx, ny, nz = image.shape
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                out[x, y, z] = useful.index(int(image[x, y, z]))
    return out


def connected_components(image: np.ndarray, fully_connected: bool) -> tuple[np.ndarray, int]:
    """ITK ``ConnectedComponentImageFilter`` (default: face connectivity).

    Runs of non-zero voxels along x get labels 1, 2, ... line by line (lines in raster order,
    runs in x order); touching runs are merged with the smaller label as the root; roots get
    consecutive output labels in increasing order. A component is thus numbered by the raster
    position of its first voxel.
    """
    nx, ny, nz = image.shape
    runs: list[tuple[int, int, int, int]] = []  # (y, z, x_start, x_last), in label order
    for z in range(nz):
        for y in range(ny):
            x = 0
            while x < nx:
                if image[x, y, z] != 0:
                    start = x
                    while x + 1 < nx and image[x + 1, y, z] != 0:
                        x += 1
                    runs.append((y, z, start, x))
                x += 1
    parent = list(range(len(runs) + 1))  # run labels are 1-based; parent[0] unused

    def find(label: int) -> int:
        while parent[label] != label:
            label = parent[label]
        return label

    def touching(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
        dy, dz = abs(a[0] - b[0]), abs(a[1] - b[1])
        if dy > 1 or dz > 1 or dy + dz == 0:
            return False
        if fully_connected:
            return a[2] <= b[3] + 1 and b[2] <= a[3] + 1
        return dy + dz == 1 and a[2] <= b[3] and b[2] <= a[3]

    for i in range(1, len(runs) + 1):
        for j in range(1, i):
            if touching(runs[i - 1], runs[j - 1]):
                root_i, root_j = find(i), find(j)
                if root_i < root_j:
                    parent[root_j] = root_i
                else:
                    parent[root_i] = root_j
    consecutive = [0] * (len(runs) + 1)
    count = 0
    for i in range(1, len(runs) + 1):
        if parent[i] == i:
            count += 1
            consecutive[i] = count
    labels = np.zeros(image.shape, dtype=np.int64)
    for i, (y, z, start, last) in enumerate(runs, start=1):
        for x in range(start, last + 1):
            labels[x, y, z] = consecutive[find(i)]
    return labels, count


def relabel_components(labels: np.ndarray, minimum_object_size: int) -> tuple[np.ndarray, int]:
    """ITK ``RelabelComponentImageFilter``: objects sorted by decreasing size, equal sizes by
    increasing input label; objects smaller than ``minimum_object_size`` become background."""
    sizes: dict[int, int] = {}
    for value in labels.ravel():
        if value != 0:
            sizes[int(value)] = sizes.get(int(value), 0) + 1
    ordered = sorted(sizes, key=lambda label: (-sizes[label], label))
    relabel = {0: 0}
    n_objects = 0
    for label in ordered:
        if minimum_object_size > 0 and sizes[label] < minimum_object_size:
            relabel[label] = 0
        else:
            n_objects += 1
            relabel[label] = n_objects
    out = np.zeros(labels.shape, dtype=np.int64)
    nx, ny, nz = labels.shape
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                out[x, y, z] = relabel[int(labels[x, y, z])]
    return out, n_objects


def spacing_total(spacing: Sequence[float]) -> float:
    """``spacingTot``: spacing[0] * spacing[1] * spacing[2], left to right."""
    total = spacing[0]
    for i in range(1, 3):
        total *= spacing[i]
    return total


def min_size_in_voxels(min_volume: float, spacing: Sequence[float]) -> int:
    """``floor(minVolume / spacingTot) + 1``: lesions must be strictly larger than the limit."""
    return math.floor(min_volume / spacing_total(spacing)) + 1


def lesion_labels(
    image: np.ndarray, spacing: Sequence[float], min_volume: float, fully_connected: bool
) -> tuple[np.ndarray, int]:
    """Connected components, then relabelled by size with the size limit, as ``getOverlapTab``."""
    labels, _ = connected_components(image, fully_connected)
    return relabel_components(labels, min_size_in_voxels(min_volume, spacing))


def overlap_tab(
    ref: np.ndarray,
    test: np.ndarray,
    spacing: Sequence[float],
    min_volume: float,
    fully_connected: bool,
) -> tuple[int, int, list[list[int]]]:
    """``getOverlapTab``: ``(nb_labels_ref, nb_labels_test, tab)``, label counts including the
    background; ``tab[i][j]`` counts voxels of reference label i and tested label j."""
    ref_labels, n_ref = lesion_labels(ref, spacing, min_volume, fully_connected)
    test_labels, n_test = lesion_labels(test, spacing, min_volume, fully_connected)
    nb_ref, nb_test = 1 + n_ref, 1 + n_test
    tab = [[0] * nb_test for _ in range(nb_ref)]
    for r, t in zip(ref_labels.ravel(), test_labels.ravel(), strict=True):
        tab[int(r)][int(t)] += 1
    return nb_ref, nb_test, tab


def transposer(nb_ref: int, nb_test: int, tab: list[list[int]]) -> list[list[int]]:
    """``transposer``."""
    return [[tab[i][j] for i in range(nb_ref)] for j in range(nb_test)]


@dataclass(frozen=True)
class Thresholds:
    """``m_dfDetectionThresholdAlpha``, ``...Beta``, ``...Gamma``."""

    alpha: float = ALPHA
    beta: float = BETA
    gamma: float = GAMMA


def false_positive_ratio_tester(
    lesion: int,
    nb_test: int,
    tab: list[list[int]],
    tp_row_sum: list[int],
    column_sum: list[int],
    beta: float,
    gamma: float,
) -> bool:
    """``falsePositiveRatioTester``."""
    exit_ = False
    k = 0
    sum_tp_row = tp_row_sum[lesion]
    sum_weight = 0.0
    column = [(label, tab[lesion][label]) for label in range(1, nb_test)]
    overlaps = [value for _, value in column if value]
    if len(column) > LIBSTDCXX_INSERTION_SORT_MAX and len(set(overlaps)) < len(overlaps):
        raise NotDeterminedByAnima("std::sort orders equal overlaps of more than 16 labels")
    column.sort(key=lambda pair: -pair[1])  # stable: insertion sort's order
    while sum_weight < gamma and k < nb_test and not exit_:
        if k == len(column):
            raise NotDeterminedByAnima("falsePositiveRatioTester reads past its vector")
        label, value = column[k]
        ratio_outside_inside = float(tab[0][label]) / float(column_sum[label])
        exit_ = ratio_outside_inside > beta
        if not exit_:
            sum_weight += float(value) / float(sum_tp_row)
        k += 1
    return not exit_


def true_positive_lesions(
    nb_ref: int, nb_test: int, tab: list[list[int]], thresholds: Thresholds
) -> list[bool]:
    """``getTruePositiveLesions``, returning which reference labels 1.. count (anima counts
    them)."""
    tp_row_sum = [0] * nb_ref
    column_sum = [0] * nb_test
    for i in range(nb_ref):
        for j in range(nb_test):
            column_sum[j] += tab[i][j]
            if j > 0:
                tp_row_sum[i] += tab[i][j]
    detected = []
    for i in range(1, nb_ref):
        tp, fn = tp_row_sum[i], tab[i][0]
        sensibility = float(tp) / float(tp + fn)
        detected.append(
            sensibility > thresholds.alpha
            and false_positive_ratio_tester(
                i, nb_test, tab, tp_row_sum, column_sum, thresholds.beta, thresholds.gamma
            )
        )
    return detected


def detection_marks(
    nb_ref: int, nb_test: int, tab: list[list[int]], thresholds: Thresholds
) -> dict[str, float]:
    """``getDetectionMarks``: PPVL, SensL and F1 (plus the counts behind them)."""
    tp_ref = tp_test = 0
    if nb_ref > 1 and nb_test > 1:
        tp_ref = sum(true_positive_lesions(nb_ref, nb_test, tab, thresholds))
        tp_test = sum(
            true_positive_lesions(nb_test, nb_ref, transposer(nb_ref, nb_test, tab), thresholds)
        )
    ppvl = float(tp_test) / float(nb_test - 1) if nb_test != 1 else 0.0
    sensl = float(tp_ref) / float(nb_ref - 1) if nb_ref != 1 else math.nan  # C++: 0.0 / 0.0
    f1 = 2 * (ppvl * sensl) / (ppvl + sensl) if ppvl + sensl > 0.0 else 0.0
    return {"ppvl": ppvl, "sensl": sensl, "f1": f1, "tp_ref": tp_ref, "tp_test": tp_test}


def seg_perf_analyzer(
    test: np.ndarray,
    ref: np.ndarray,
    spacing: Sequence[float],
    *,
    min_volume: float = MIN_VOLUME,
    alpha: float = ALPHA,
    beta: float = BETA,
    gamma: float = GAMMA,
    fully_connected: bool = False,
) -> dict[str, float]:
    """``animaSegPerfAnalyzer -i test -r ref -l`` on binary images: the detection outputs.

    Normal branch: ``ppvl``, ``sensl``, ``f1``, ``n_ref``, ``n_test`` (kept lesions),
    ``tp_ref``, ``tp_test`` (detected ones). Empty ground truth (the reference image holds one
    value): ``n_tested_lesions`` and ``volume_tested_lesions`` (mm^3), and NaN ``ppvl``,
    ``sensl``, ``f1`` (never computed). ``fully_connected`` is ITK's ``SetFullyConnected``,
    which anima leaves off.
    """
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if value <= 0 or value > 1:  # checkParamsCoherence
            raise ValueError(f"{name} must be in (0, 1], got {value}")
    if min_volume < 0:
        raise ValueError(f"min_volume must be >= 0, got {min_volume}")
    test, ref = format_labels(test), format_labels(ref)
    nan = math.nan
    if ref.max() == 0:  # one value: checkNumberOfLabels sets m_uiNbLabels = 0 (empty truth)
        labels, n_objects = lesion_labels(test, spacing, min_volume, fully_connected)
        volume = 0.0
        for value in labels.ravel():
            if value != 0:
                volume += 1
        volume *= spacing_total(spacing)
        return {
            "ppvl": nan,
            "sensl": nan,
            "f1": nan,
            "n_tested_lesions": n_objects,
            "volume_tested_lesions": volume,
        }
    nb_ref, nb_test, tab = overlap_tab(ref, test, spacing, min_volume, fully_connected)
    marks = detection_marks(nb_ref, nb_test, tab, Thresholds(alpha, beta, gamma))
    return {**marks, "n_ref": nb_ref - 1, "n_test": nb_test - 1}
