"""Seam: ``ultralytics.nn.tasks.torch_safe_load`` (a module global of ``load_checkpoint`` and ``attempt_load_weights``,
which ``Model._load``, the trainer's ``--weights`` / ``pretrained`` and the validator go through).

A checkpoint that ``claims(path)`` accepts (yolo-ext hands it the YOLOv5 test: a pickle naming YOLOv5's
``models.yolo`` classes, which ultralytics refuses as "NOT forwards compatible" or tries to pip-install) is read by
``read(path)`` (yolo-ext's converter, which returns an ultralytics-format checkpoint dict) instead; every other file
goes to the original unchanged."""

import os

from ._util import replace

TARGETS = [("ultralytics.nn.tasks", "torch_safe_load", ("weight", "safe_only"))]


def apply(claims=None, read=None):
    """Route local files with ``claims(path)`` true to ``read(path) -> ckpt``; without both, the seam is left as is."""
    if claims is None or read is None:
        return None

    def make(original):
        def torch_safe_load(weight, safe_only=None):
            if os.path.isfile(str(weight)) and claims(weight):
                return read(weight), str(weight)
            return original(weight, safe_only)

        return torch_safe_load

    return replace("ultralytics.nn.tasks", "torch_safe_load", make)
