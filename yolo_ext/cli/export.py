"""``python -m yolo_ext.export``: export a trained checkpoint for deployment.

The model is fused first (RepVGG branches folded, BN folded into convs), so the exported graph is the plain deploy
graph; outputs are ``(1, 4 + nc, N)`` (xywh pixels, scores ``sigmoid(obj) * sigmoid(cls)``), NMS left to the caller,
as with any ultralytics detection export. ``--check`` compares ONNX Runtime's output with PyTorch's on a random image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..engine.export import check_onnx
from ..engine.yolo import AnchorYOLO

DESCRIPTION = "Export a trained yolo-ext checkpoint for deployment (fused plain graph)."


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m yolo_ext.export", description=DESCRIPTION,
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--weights", required=True, help="checkpoint (.pt) from train.py")
    ap.add_argument("--format", default="onnx", help="any ultralytics export format (onnx, torchscript, openvino, ...)")
    ap.add_argument("--imgsz", type=int, default=640, help="input size (square)")
    ap.add_argument("--dynamic", action="store_true", help="dynamic input shapes (ONNX)")
    ap.add_argument("--half", action="store_true", help="FP16 weights (GPU export)")
    ap.add_argument("--device", default="cpu", help="export device")
    ap.add_argument("--check", action="store_true", help="ONNX: compare ONNX Runtime with PyTorch")
    a = ap.parse_args(argv)
    if not Path(a.weights).is_file():
        raise SystemExit(f"--weights: checkpoint not found: {a.weights}")
    f = AnchorYOLO(a.weights).export(format=a.format, imgsz=a.imgsz, dynamic=a.dynamic, half=a.half, device=a.device)
    print(f"exported: {f}")
    if a.check and a.format == "onnx":
        d = check_onnx(a.weights, str(f), a.imgsz)
        print(f"ONNX Runtime vs PyTorch: max abs difference {d:.2e}")
        if d > 1e-3:
            raise SystemExit(f"ONNX output differs from PyTorch by {d:.3g}")
    return f


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
