"""Per-case evaluation metrics: numpy masks in, floats out, distances in millimetres.

>>> import numpy as np
>>> from lossbench.metrics import evaluate_case
>>> mask = np.zeros((4, 4, 4), bool); mask[1:3, 1:3, 1:3] = True
>>> evaluate_case(mask, mask, (1.0, 1.0, 1.0))["dice"]
1.0
"""

from __future__ import annotations

from lossbench.metrics._masks import check_masks
from lossbench.metrics.evaluate import METRIC_KEYS, evaluate_case
from lossbench.metrics.facts import METRICS, MetricFacts, facts
from lossbench.metrics.lesions import LesionDetection, label_lesions, lesion_detection
from lossbench.metrics.overlap import dice, jaccard, precision, recall
from lossbench.metrics.surface import SurfaceDistances, asd, assd, hd, hd95, nsd, surface_distances

__all__ = [
    "METRICS",
    "METRIC_KEYS",
    "LesionDetection",
    "MetricFacts",
    "SurfaceDistances",
    "asd",
    "assd",
    "check_masks",
    "dice",
    "evaluate_case",
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
