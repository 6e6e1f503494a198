"""yolo-ext: anchor-based YOLOv5 label assignment and loss study toolkit on top of ultralytics.

Importing this package makes every run offline-safe (``YOLO_OFFLINE=1`` unless the user set it) and applies the
ultralytics patches (``patches/``, installed as ``yolo_ext_patches``; idempotent). The public names:

    from yolo_ext import AnchorYOLO, build_assigner
    AnchorYOLO("models/face-vgg-fpn.yaml").train(data="synth.yaml", assigner="radius")
"""

import os
import sys
import warnings

if "ultralytics" in sys.modules and "YOLO_OFFLINE" not in os.environ:
    warnings.warn("ultralytics was imported before yolo_ext without YOLO_OFFLINE=1: its import-time network probe "
                  "has already run; yolo_ext turns every later network use off (patches/offline_state.py). Import "
                  "yolo_ext first or set YOLO_OFFLINE=1 to avoid the probe.", stacklevel=2)
os.environ.setdefault("YOLO_OFFLINE", "1")  # must precede the first ultralytics import

import yolo_ext_patches as _patches  # noqa: E402

from .nn.parse import parse_anchor_model, uses_anchor_head  # noqa: E402
from .utils.files import atomic_path  # noqa: E402

_patches.apply(anchor_model_claims=uses_anchor_head, anchor_model_builder=parse_anchor_model, atomic_path=atomic_path)

from .assign import ASSIGNERS, build_assigner  # noqa: E402
from .engine import AnchorDetectionModel, AnchorTrainer, AnchorValidator, AnchorYOLO, InferenceYOLO  # noqa: E402
from .losses import LOSSES  # noqa: E402

__version__ = "0.2.0"

__all__ = [
    "ASSIGNERS",
    "LOSSES",
    "AnchorDetectionModel",
    "AnchorTrainer",
    "AnchorValidator",
    "AnchorYOLO",
    "InferenceYOLO",
    "build_assigner",
]
