"""Export a trained yolo-ext checkpoint for deployment: ``python -m yolo_ext.export --weights best.pt``.

The model is fused first (RepVGG branches folded, BN folded into convs), so the exported graph is the plain deploy
graph; outputs are ``(1, 4 + nc, N)`` (xywh pixels, scores ``sigmoid(obj) * sigmoid(cls)``), NMS left to the caller,
as with any ultralytics detection export. ``--check`` compares ONNX Runtime's output with PyTorch's on a random image.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def check_onnx(weights: str, onnx_file: str, imgsz: int) -> float:
    """Max abs difference between ONNX Runtime and the fused PyTorch model on one random image."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from .model import AnchorYOLO

    net = AnchorYOLO(weights).model.float().fuse(verbose=False).eval()
    x = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = net(x)[0].numpy()
    sess = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    return float(np.abs(got - ref).max())


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m yolo_ext.export", description=__doc__.split("\n\n")[0],
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
    from .model import AnchorYOLO

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
