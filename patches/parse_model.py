"""Seam: ``ultralytics.nn.tasks.parse_model`` (looked up as a module global at call time by
``_initialize_yolo_model``). Model dicts whose head ends in ``AnchorDetect`` are built by
``yolo_ext.nn.parse.parse_anchor_model``; every other model goes to the original unchanged, so stock models
(e.g. ``yolov5nu.yaml``) are untouched."""

from ._util import replace

TARGETS = [("ultralytics.nn.tasks", "parse_model", ("d", "ch", "verbose"))]


def apply():
    def make(original):
        def parse_model(d, ch, verbose=True):
            from yolo_ext.nn.parse import parse_anchor_model, uses_anchor_head

            if uses_anchor_head(d):
                return parse_anchor_model(d, ch, verbose)
            return original(d, ch, verbose)

        return parse_model

    replace("ultralytics.nn.tasks", "parse_model", make)
