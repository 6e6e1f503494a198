"""``AnchorYOLO``: the ``ultralytics.YOLO`` counterpart for yolo-ext models (train, predict, val, export)."""

from __future__ import annotations

from .model import InferenceYOLO
from .trainer import AnchorTrainer


class AnchorYOLO(InferenceYOLO):
    """``AnchorYOLO("models/yolov5n.yaml").train(...)``, ``AnchorYOLO("best.pt").predict(...)`` / ``.val(...)`` /
    ``.export(format="onnx")``: the stock front end routed to ``AnchorDetectionModel`` and ``AnchorTrainer``."""

    @property
    def task_map(self):
        tm = super().task_map
        tm["detect"]["trainer"] = AnchorTrainer
        return tm
