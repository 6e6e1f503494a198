"""Export checks of a trained yolo-ext checkpoint (``python -m yolo_ext.export --weights best.pt --check``).

The model is fused first (RepVGG branches folded, BN folded into convs), so the exported graph is the plain deploy
graph; outputs are ``(1, 4 + nc, N)`` (xywh pixels, scores ``sigmoid(obj) * sigmoid(cls)``), NMS left to the caller,
as with any ultralytics detection export. ``--check`` compares ONNX Runtime's output with PyTorch's on a random image.
"""

from __future__ import annotations

import numpy as np
import torch

from .model import InferenceYOLO


def check_onnx(weights: str, onnx_file: str, imgsz: int) -> float:
    """Max abs difference between ONNX Runtime and the fused PyTorch model on one random image."""
    import onnxruntime as ort  # optional at import time: only the --check path needs it

    net = InferenceYOLO(weights).model.float().fuse(verbose=False).eval()
    x = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = net(x)[0].numpy()
    sess = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    return float(np.abs(got - ref).max())
