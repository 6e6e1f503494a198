"""Label assigners for anchor-based YOLOv5 detectors, as pure tensor functions.

    from yolo_ext.assign import build_assigner
    assigner = build_assigner("radius+ignore+dedup", anchor_t=4.0, ignore_iou=0.5)
    out = assigner(targets, anchors, strides, shapes, preds, scores, batch_size=bs)   # -> Assignment
    for b, a, gj, gi, t, weight, ignore, quality in out: ...
    out.stats["positives"]                                     # 0-d int64 tensor on targets.device

Components (base.py): a ``Strategy`` (KIND "base") turns one level's anchor matches into positives
with ``positives(ctx, match)`` (a ``JointStrategy`` ranks all levels at once in ``assign_levels``); a ``Modifier`` (KIND "modifier") has two hooks with identity
defaults, ``adjust_matches(ctxs, matches, stats)`` before the base expands matches into cells and
``adjust_level(ctx, lt, stats)`` on each level's positives after. Each declares ``DESCRIPTION``,
``PARAMS`` (name -> default, validated by its constructor), ``needs_preds`` / ``needs_scores`` and,
for a base, ``REFUSES`` (modifiers it cannot be combined with, and why). An ``Assigner`` is one base
plus modifiers applied in ``ASSIGNERS`` order (today recover -> dedup -> ignore).

The call contract (one for every strategy, prediction-aware or not):

* inputs: ``targets`` (n, 6) [image, class, x, y, w, h] normalised; ``anchors`` (nl, na, 2) pixels;
  ``strides`` (nl,); ``shapes`` [(ny, nx)]; ``preds`` per level detached decoded boxes
  (bs, na, ny, nx, 4) xywh pixels and ``scores`` per level detached (bs, na, ny, nx, nc) scores
  ``sigmoid(obj) * sigmoid(cls)`` (what the head ranks detections by). The criterion computes both once
  per batch, only when the assigner ``needs_preds`` / ``needs_scores``, and passes ``batch_size``.
* outputs: per level ``LevelTargets(b, a, gj, gi, t, weight, ignore, quality)``. ``quality`` (m,) in
  [0, 1] is set by strategies with soft targets (``tal``: the normalised alignment; ``simota``: the IoU
  of the positive's prediction) and is then the positive's objectness target in the criterion (and the
  quality of soft class targets), in place of YOLOv5's ``(1 - gr) + gr * IoU``; ``None`` elsewhere.
  ``ignore`` may come from the base (``maxiou``'s IoU band) and is or-ed by the ``ignore`` modifier.
* memory is bounded by each target's candidate cells (candidates.py): never a targets x cells matrix.

Adding one: write the class in its own file, add one entry to ``ASSIGNERS`` (registry.py). Its
parameters become trainer settings (``assigner_params()``), ``--assigner list`` shows it and the
shared tests in ``tests/assign/test_all_assigners.py`` run it.

Bases: yolov5 (exact YOLOv5 build_targets), distance, radius, maxiou (SSD / RetinaFace IoU
matching), atss (Zhang et al. 2020), simota (YOLOX), tal (TOOD / ultralytics). See ``describe_assigners()`` and
each class docstring.
"""

from .atss import ATSSAssigner
from .base import Component, JointStrategy, Modifier, Strategy, add_stat, zero_count
from .context import LevelContext
from .dedup import DedupModifier
from .ignore import IgnoreModifier
from .maxiou import MaxIoUAssigner
from .pipeline import Assigner
from .radius import RadiusAssigner
from .recover import RecoverModifier
from .simota import SimOTAAssigner
from .tal import TALAssigner
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
    "JointStrategy",
    "Modifier",
    "add_stat",
    "zero_count",
    "build_assigner",
    "describe_assigners",
    "YOLOv5Assigner",
    "DistanceAssigner",
    "RadiusAssigner",
    "MaxIoUAssigner",
    "ATSSAssigner",
    "SimOTAAssigner",
    "TALAssigner",
    "RecoverModifier",
    "DedupModifier",
    "IgnoreModifier",
]
