"""Label assigners for anchor-based YOLOv5 detectors, as pure tensor functions.

    from yolo_ext.assign import build_assigner
    assigner = build_assigner("radius+ignore+dedup", anchor_t=4.0, ignore_iou=0.5)
    out = assigner(targets, anchors, strides, shapes, preds)   # -> Assignment
    for b, a, gj, gi, t, weight, ignore in out: ...

Bases: yolov5 (exact YOLOv5 build_targets), distance, radius. Modifiers, applied in the order
recover -> dedup -> ignore. See ``describe_assigners()`` and each class docstring.
"""

from .dedup import DedupModifier
from .ignore import IgnoreModifier
from .pipeline import Assigner
from .radius import RadiusAssigner
from .recover import RecoverModifier
from .registry import ASSIGNER_PARAMS, ASSIGNERS, MODIFIER_ORDER, build_assigner, describe_assigners
from .types import Assignment, LevelTargets
from .yolov5 import DistanceAssigner, YOLOv5Assigner

__all__ = [
    "ASSIGNERS",
    "ASSIGNER_PARAMS",
    "MODIFIER_ORDER",
    "Assigner",
    "Assignment",
    "LevelTargets",
    "build_assigner",
    "describe_assigners",
    "YOLOv5Assigner",
    "DistanceAssigner",
    "RadiusAssigner",
    "RecoverModifier",
    "DedupModifier",
    "IgnoreModifier",
]
