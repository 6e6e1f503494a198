"""``python -m yolo_ext.convert yolov5 IN.pt OUT.pt [--cfg MODEL.yaml]``: a YOLOv5 checkpoint to a yolo-ext one.

Reads the ultralytics/yolov5 checkpoint without YOLOv5's code (a restricted unpickler), maps its tensor names to ours
(head ``m.*`` -> ``cv2.*``, grid-unit ``anchors`` x stride -> ``anchor_px``), builds our model from the checkpoint's own
architecture (checked against ``--cfg`` when given, else against the bundled YAML of the same size), verifies that
every tensor landed, and writes an ultralytics-format checkpoint (atomically). ``--weights IN.pt`` accepts the
YOLOv5 file directly too (converted in memory).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..config.paths import resolve_model_cfg
from ..engine.yolov5_ckpt import YOLOv5CheckpointError, is_yolov5_checkpoint, yolov5_to_ckpt
from ..utils.files import atomic_path
from .common import fail


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m yolo_ext.convert", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="kind", required=True, metavar="{yolov5}")
    v5 = sub.add_parser("yolov5", help="an ultralytics/yolov5 detection checkpoint (v6.x / v7.x)")
    v5.add_argument("src", metavar="IN.pt", help="YOLOv5 checkpoint (train.py's last.pt / best.pt, or a release .pt)")
    v5.add_argument("out", metavar="OUT.pt", help="yolo-ext checkpoint to write")
    v5.add_argument("--cfg", default=None, help="model YAML to check the architecture against (default: the bundled one "
                    "of the same size, if any)")
    return ap


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    try:
        if Path(a.out).resolve() == Path(a.src).resolve():
            raise YOLOv5CheckpointError(f"{a.out}: the output would replace the input checkpoint; name another file")
        if not is_yolov5_checkpoint(a.src):
            raise YOLOv5CheckpointError(f"{a.src}: not a YOLOv5 checkpoint (no models.yolo classes in its pickle)")
        ckpt = yolov5_to_ckpt(a.src, resolve_model_cfg(a.cfg) if a.cfg else None)
    except (YOLOv5CheckpointError, FileNotFoundError) as e:
        fail("convert", e)
    ckpt["model"] = ckpt["model"].half()  # as ultralytics' strip_optimizer stores models
    with atomic_path(a.out) as tmp:
        torch.save(ckpt, tmp)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
