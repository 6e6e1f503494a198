"""Label assigners for anchor-based YOLOv5 detectors, as pure tensor functions.

    from yolo_ext.assign import build_assigner
    assigner = build_assigner("radius+ignore+dedup", anchor_t=4.0, ignore_iou=0.5)
    out = assigner(targets, anchors, strides, shapes, preds)   # -> Assignment
    for b, a, gj, gi, t, weight, ignore in out: ...
    out.stats["positives"]                                     # 0-d int64 tensor on targets.device

Components (base.py): a ``Strategy`` (KIND "base") turns one level's anchor matches into positives
with ``positives(ctx, match)``; a ``Modifier`` (KIND "modifier") has two hooks with identity
defaults, ``adjust_matches(ctxs, matches, stats)`` before the base expands matches into cells and
``adjust_level(ctx, lt, stats)`` on each level's positives after. Each declares ``DESCRIPTION``,
``PARAMS`` (name -> default, validated by its constructor) and ``needs_preds``. An ``Assigner`` is
one base plus modifiers applied in ``ASSIGNERS`` order (today recover -> dedup -> ignore).

Adding one: write the class in its own file, add one entry to ``ASSIGNERS`` (registry.py). Its
parameters become trainer settings (``assigner_params()``), ``--assigner list`` shows it and the
shared tests in ``tests/assign/test_all_assigners.py`` run it.

Bases: yolov5 (exact YOLOv5 build_targets), distance, radius. See ``describe_assigners()`` and
each class docstring.
"""

from .base import Component, Modifier, Strategy, add_stat, zero_count
from .context import LevelContext
from .dedup import DedupModifier
from .ignore import IgnoreModifier
from .pipeline import Assigner
from .radius import RadiusAssigner
from .recover import RecoverModifier
from .registry import ASSIGNERS, assigner_params, base_names, build_assigner, describe_assigners, modifier_order
from .types import Assignment, LevelTargets
from .yolov5 import DistanceAssigner, YOLOv5Assigner

__all__ = [
    "ASSIGNERS",
    "assigner_params",
    "base_names",
    "modifier_order",
    "Assigner",
    "Assignment",
    "LevelTargets",
    "LevelContext",
    "Component",
    "Strategy",
    "Modifier",
    "add_stat",
    "zero_count",
    "build_assigner",
    "describe_assigners",
    "YOLOv5Assigner",
    "DistanceAssigner",
    "RadiusAssigner",
    "RecoverModifier",
    "DedupModifier",
    "IgnoreModifier",
]
