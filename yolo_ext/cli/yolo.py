"""``python -m yolo_ext.yolo ARGS``: the stock ``yolo`` command line (``yolo train model=... data=...``, ``yolo val``,
``yolo predict``, ``yolo export``) with yolo-ext loaded, so models whose head is ``AnchorDetect`` (our YAMLs, our
checkpoints, YOLOv5 checkpoints) use ``AnchorDetectionModel`` / ``AnchorTrainer`` / ``AnchorValidator``. The stock
``yolo`` executable never imports yolo_ext: with one of our YAMLs it fails in ultralytics' parser
(``KeyError: 'AnchorDetect'``)."""

from __future__ import annotations

import sys

from ultralytics.cfg import entrypoint


def main(argv=None) -> None:
    sys.argv = ["yolo", *(sys.argv[1:] if argv is None else argv)]
    entrypoint()
