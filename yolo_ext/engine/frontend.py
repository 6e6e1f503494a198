"""What the stock ``ultralytics.YOLO`` front end needs to route yolo-ext models to our classes (handed to the
``yolo_front_end`` seam by ``yolo_ext/__init__.py``): after ``import yolo_ext``, ``YOLO("models/face-vgg-fpn.yaml")``,
``YOLO("runs/.../best.pt")`` and a YOLOv5 checkpoint build / train / validate / predict with ``AnchorDetectionModel``,
``AnchorTrainer``, ``AnchorValidator`` (the ``AnchorYOLO`` task map); the ``yolo`` command line does the same through
``python -m yolo_ext.yolo`` (the stock ``yolo`` executable never imports yolo_ext)."""

from __future__ import annotations

from pathlib import Path

from torch import nn
from ultralytics.nn.tasks import yaml_model_load

from ..nn.head import AnchorDetect
from ..nn.parse import uses_anchor_head
from .model import InferenceYOLO
from .yolo import AnchorYOLO


def is_anchor_front_end(obj) -> bool:
    """True for a stock front-end object (not already an ``InferenceYOLO`` / ``AnchorYOLO``) whose model has an
    ``AnchorDetect`` head, or, while its model is being built, whose YAML (``obj.cfg``) ends in ``AnchorDetect``."""
    if isinstance(obj, InferenceYOLO):
        return False
    model = vars(obj).get("_modules", {}).get("model", vars(obj).get("model"))  # Model is an nn.Module
    if isinstance(model, nn.Module):
        last = getattr(model, "model", None)
        return isinstance(last, nn.Sequential) and isinstance(last[-1], AnchorDetect)
    cfg = obj.__dict__.get("cfg")
    if isinstance(cfg, (str, Path)) and str(cfg).endswith((".yaml", ".yml")):
        try:
            return uses_anchor_head(yaml_model_load(cfg))
        except (FileNotFoundError, OSError, ValueError):
            return False
    return False


def anchor_task_map() -> dict:
    """``AnchorYOLO``'s task map (model, trainer, validator, predictor for ``detect``)."""
    return AnchorYOLO.__new__(AnchorYOLO).task_map  # the property reads no state


def route_stock_front_end():
    """``(claims, task_map)`` for ``yolo_ext_patches.apply(front_end=...)``."""
    return is_anchor_front_end, anchor_task_map
