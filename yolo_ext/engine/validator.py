"""``AnchorValidator``: the stock DetectionValidator, fed args without our extension keys (its ``get_cfg`` would
reject them). Decoded outputs already follow the ultralytics layout, so NMS and metrics are used as they are."""

from __future__ import annotations

from ultralytics.models.yolo.detect import DetectionValidator

from ..config.defaults import strip_ext


class AnchorValidator(DetectionValidator):
    """Validator for anchor-based yolo-ext models."""

    def __init__(self, dataloader=None, save_dir=None, args=None, _callbacks=None):
        super().__init__(dataloader, save_dir, strip_ext(args) if args is not None else None, _callbacks)
        self.metrics.save_dir = self.save_dir  # so callers of Model.val() know where results went (WIDER files)
