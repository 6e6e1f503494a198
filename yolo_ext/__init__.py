"""yolo-ext: anchor-based YOLOv5 label assignment and loss study toolkit on top of ultralytics.

Importing this package makes every run offline-safe (``YOLO_OFFLINE=1`` unless the user set it) and applies the
ultralytics patches (``patches/``, installed as ``yolo_ext_patches``; idempotent). The public names:

    from yolo_ext import AnchorYOLO, build_assigner
    AnchorYOLO("models/face-vgg-fpn.yaml").train(data="synth.yaml", assigner="radius")

One exception: a process started as ``python -m yolo_ext.widerface`` (the WIDER FACE evaluator, numpy/scipy only)
skips torch, ultralytics and the patches; the public names then load, with the patches, on first use.
"""

import os
import sys
import warnings

if "ultralytics" in sys.modules and "YOLO_OFFLINE" not in os.environ:
    warnings.warn("ultralytics was imported before yolo_ext without YOLO_OFFLINE=1: its import-time network probe "
                  "has already run; yolo_ext turns every later network use off (patches/offline_state.py). Import "
                  "yolo_ext first or set YOLO_OFFLINE=1 to avoid the probe.", stacklevel=2)
os.environ.setdefault("YOLO_OFFLINE", "1")  # must precede the first ultralytics import

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

_LIGHT_ENTRY_POINTS = ("yolo_ext.widerface",)  # `python -m` entry points that must not import torch / ultralytics


def _light_process() -> bool:
    """True when this interpreter runs ``python -m yolo_ext.widerface`` (read from ``sys.orig_argv``, Python >= 3.10)."""
    argv = list(getattr(sys, "orig_argv", ()))
    return any(a == "-m" and b in _LIGHT_ENTRY_POINTS for a, b in zip(argv, argv[1:])) or any(
        a in tuple(f"-m{e}" for e in _LIGHT_ENTRY_POINTS) for a in argv)


def _load_full() -> dict:
    """Apply the patches (handing them what they need from yolo_ext) and import the public names."""
    import yolo_ext_patches as patches

    from .engine.yolov5_ckpt import is_yolov5_checkpoint, yolov5_to_ckpt
    from .nn.parse import parse_anchor_model, uses_anchor_head
    from .utils.files import atomic_path

    patches.apply(anchor_model_claims=uses_anchor_head, anchor_model_builder=parse_anchor_model,
                  atomic_path=atomic_path, foreign_checkpoint_reader=(is_yolov5_checkpoint, yolov5_to_ckpt))

    from .assign import ASSIGNERS, build_assigner
    from .engine import AnchorDetectionModel, AnchorTrainer, AnchorValidator, AnchorYOLO, InferenceYOLO
    from .engine.frontend import route_stock_front_end
    from .losses import LOSSES

    patches.apply(front_end=route_stock_front_end())
    names = dict(ASSIGNERS=ASSIGNERS, LOSSES=LOSSES, AnchorDetectionModel=AnchorDetectionModel,
                 AnchorTrainer=AnchorTrainer, AnchorValidator=AnchorValidator, AnchorYOLO=AnchorYOLO,
                 InferenceYOLO=InferenceYOLO, build_assigner=build_assigner)
    globals().update(names)
    return names


def __getattr__(name):  # only reached in a light process, for a public name not loaded yet
    if name in __all__:
        return _load_full()[name]
    raise AttributeError(f"module 'yolo_ext' has no attribute {name!r}")


if not _light_process():
    _load_full()
