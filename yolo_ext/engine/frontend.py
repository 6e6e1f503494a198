"""What the stock ``ultralytics.YOLO`` front end needs to route yolo-ext models to our classes (handed to the
``yolo_front_end`` seam by ``yolo_ext/__init__.py``): after ``import yolo_ext``, ``YOLO("models/face-vgg-fpn.yaml")``,
``YOLO("runs/.../best.pt")`` and a YOLOv5 checkpoint build / train / validate / predict with ``AnchorDetectionModel``,
``AnchorTrainer``, ``AnchorValidator`` (the ``AnchorYOLO`` task map); the ``yolo`` command line does the same through
``python -m yolo_ext.yolo`` (the stock ``yolo`` executable never imports yolo_ext)."""

from __future__ import annotations

from pathlib import Path

from torch import nn
from ultralytics.nn.tasks import yaml_model_load

from ..config.data import wider_section
from ..nn.head import AnchorDetect
from ..nn.parse import uses_anchor_head
from .model import InferenceYOLO
from .validator import AnchorValidator
from .wider_eval import run_wider_eval
from .wider_protocols import PROTOCOLS
from .yolo import AnchorYOLO


class FrontEndValidator(AnchorValidator):
    """The validator of a routed stock front end: ``AnchorValidator``, plus, when run on its own on WIDER-format data
    (``YOLO("best.pt").val(data="widerface.yaml")``), the WIDER FACE table that ``val.py`` prints, with ``val.py``'s
    default protocol (``ours``: the validation ``imgsz``, conf 0.01, NMS 0.6) and its files in the same run directory.
    Inside training (a trainer is given) it is exactly ``AnchorValidator``."""

    def __call__(self, trainer=None, model=None, **kwargs):
        stats = super().__call__(trainer=trainer, model=model, **kwargs)
        weights = getattr(model, "pt_path", None)
        if trainer is None and weights and Path(weights).is_file() and wider_section(self.args.data) is not None:
            ours = PROTOCOLS["ours"]
            self.metrics.wider = run_wider_eval(weights, self.args.data, self.save_dir, imgsz=self.args.imgsz,
                                                conf=ours.conf, iou=ours.iou, device=self.args.device,
                                                batch=self.args.batch, protocol=ours.name)
        return stats


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
    """``AnchorYOLO``'s task map (model, trainer, predictor for ``detect``), with :class:`FrontEndValidator`."""
    tm = AnchorYOLO.__new__(AnchorYOLO).task_map  # the property reads no state
    tm["detect"]["validator"] = FrontEndValidator
    return tm


def route_stock_front_end():
    """``(claims, task_map)`` for ``yolo_ext_patches.apply(front_end=...)``."""
    return is_anchor_front_end, anchor_task_map
