"""Anchor analysis (best possible recall, level spacing) and anchor fitting (k-means + genetic refinement).

``python -m yolo_ext.anchors`` is the command line (``yolo_ext.cli.anchors``); the training-start check is the
trainer callback ``yolo_ext.engine.callbacks.anchor_check``.
"""

from .analysis import BPR_WARN, adjacent_ratios, anchors_of, check_anchors, format_report, label_wh, metrics
from .evolve import evolve_anchors, fitness_batch, kmeans_wh, write_model_yaml

__all__ = [
    "BPR_WARN",
    "adjacent_ratios",
    "anchors_of",
    "check_anchors",
    "evolve_anchors",
    "fitness_batch",
    "format_report",
    "kmeans_wh",
    "label_wh",
    "metrics",
    "write_model_yaml",
]
