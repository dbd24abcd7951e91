"""Per-case evaluation metrics: numpy masks in, floats out, distances in millimetres.

>>> import numpy as np
>>> from lossbench.metrics import evaluate_case
>>> mask = np.zeros((4, 4, 4), bool); mask[1:3, 1:3, 1:3] = True
>>> evaluate_case(mask, mask, (1.0, 1.0, 1.0))["dice"]
1.0
"""

from __future__ import annotations

from lossbench.metrics._masks import check_masks
from lossbench.metrics.calibration import Calibration, calibration
from lossbench.metrics.evaluate import (
    LESION_KEYS,
    METRIC_KEYS,
    evaluate_case,
    evaluate_case_lesions,
)
from lossbench.metrics.facts import METRICS, MetricFacts, facts
from lossbench.metrics.lesions import LesionDetection, LesionList, label_lesions, lesion_detection
from lossbench.metrics.overlap import dice, jaccard, precision, recall
from lossbench.metrics.surface import SurfaceDistances, asd, assd, hd, hd95, nsd, surface_distances

__all__ = [
    "LESION_KEYS",
    "METRICS",
    "METRIC_KEYS",
    "Calibration",
    "LesionDetection",
    "LesionList",
    "MetricFacts",
    "SurfaceDistances",
    "asd",
    "assd",
    "calibration",
    "check_masks",
    "dice",
    "evaluate_case",
    "evaluate_case_lesions",
    "facts",
    "hd",
    "hd95",
    "jaccard",
    "label_lesions",
    "lesion_detection",
    "nsd",
    "precision",
    "recall",
    "surface_distances",
]
