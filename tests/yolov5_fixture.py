"""A checkpoint with the pickle structure of an ultralytics/yolov5 training checkpoint, built in the test.

YOLOv5's ``train.py`` saves ``{"epoch", "best_fitness", "model": DetectionModel.half(), "ema", "updates",
"optimizer", "opt", "git", "date"}`` where the model is a ``models.yolo.DetectionModel`` (``model.model``: an
``nn.Sequential`` of ``models.common.Conv`` / ``C3`` / ``Bottleneck`` / ``SPPF`` / ``Concat`` and torch modules, last
``models.yolo.Detect`` with ``m`` (per-level 1x1 convs) and the ``anchors`` buffer in grid units). The stand-in classes
live in a temporary package named ``models`` that is removed from ``sys.path`` / ``sys.modules`` before the checkpoint
is read, so reading it cannot use them.
"""

from __future__ import annotations

import copy
import importlib
import sys
import textwrap

import numpy as np
import torch
import yaml

from helpers import ROOT

STANDINS = {
    "yolo.py": """
        import torch
        from torch import nn

        class Detect(nn.Module):
            def __init__(self, m, anchors, stride):
                super().__init__()
                self.nl, self.na = anchors.shape[:2]
                self.no = m[0].out_channels // self.na
                self.nc = self.no - 5
                self.m = m
                self.register_buffer("anchors", anchors)
                self.stride = stride
                self.inplace = True

        class DetectionModel(nn.Module):
            def __init__(self, model, yaml, stride, names):
                super().__init__()
                self.model, self.yaml, self.stride, self.names = model, yaml, stride, names
                self.save = [4, 6, 10, 14, 17, 20, 23]
                self.hyp = {"box": 0.05}
    """,
    "common.py": """
        from torch import nn

        class Conv(nn.Module): pass
        class Bottleneck(nn.Module): pass
        class C3(nn.Module): pass
        class SPPF(nn.Module): pass
        class Concat(nn.Module): pass
    """,
}


def yolov5_yaml(cfg="yolov5n.yaml") -> dict:
    """YOLOv5's model YAML: our rows with YOLOv5's ``Detect`` head."""
    d = yaml.safe_load((ROOT / "models" / cfg).read_text())
    d["head"][-1][2] = "Detect"
    return d


def randomise(model, seed=0):
    """Random weights and BatchNorm statistics, rounded through fp16 (YOLOv5 saves half precision)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point and "anchor" not in k:
                r = torch.rand(v.shape, generator=g)
                new = 0.5 + r if "running_var" in k or k.endswith("bn.weight") else (r - 0.5) * 0.2
                v.copy_(new.half().float())
    return model


def _retype(module, common):
    for name, child in list(module.named_children()):
        _retype(child, common)
    cls = type(module).__name__
    if hasattr(common, cls) and type(module).__module__.startswith("ultralytics"):
        module.__class__ = getattr(common, cls)
    return module


def write_yolov5_checkpoint(our_model, path, tmp_pkg_dir, ema=True):
    """Save ``our_model`` (an AnchorDetectionModel of a yolov5 YAML) as YOLOv5 would: same tensors, YOLOv5 names."""
    pkg = tmp_pkg_dir / "models"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    for f, src in STANDINS.items():
        (pkg / f).write_text(textwrap.dedent(src))
    sys.path.insert(0, str(tmp_pkg_dir))
    try:
        y5, common = importlib.import_module("models.yolo"), importlib.import_module("models.common")
        src = copy.deepcopy(our_model).float()
        layers = list(src.model)
        head = layers[-1]
        stride = head.stride.clone()
        convs = torch.nn.ModuleList(head.cv2)
        det = y5.Detect(convs, head.anchor_px / stride.view(-1, 1, 1), stride)
        det.f, det.i, det.type = head.f, head.i, "models.yolo.Detect"
        seq = torch.nn.Sequential(*[_retype(m, common) for m in layers[:-1]], det)
        y = yolov5_yaml(src.yaml["yaml_file"].split("/")[-1]) if "yaml_file" in src.yaml else src.yaml
        y = {**y, "nc": head.nc}
        m5 = y5.DetectionModel(seq, y, stride, [f"class{i}" for i in range(head.nc)]).half()
        ckpt = {"epoch": -1, "best_fitness": np.float64(0.5), "model": None if ema else m5,
                "ema": copy.deepcopy(m5) if ema else None, "updates": 100, "optimizer": None,
                "opt": {"hyp": {"lr0": 0.01}, "weights": "yolov5n.pt"}, "git": {"remote": "x"}, "date": "2024-01-01"}
        torch.save(ckpt, path)
    finally:
        sys.path.remove(str(tmp_pkg_dir))
        for k in [k for k in sys.modules if k == "models" or k.startswith("models.")]:
            del sys.modules[k]
    return path


def yolov5_detect_reference(feats, sd, head="model.24.", stride=(8, 16, 32)):
    """YOLOv5's ``Detect`` inference (models/yolo.py, v6/v7) from its own tensors: per level ``m[i]`` 1x1 conv,
    ``xy = (2 sigmoid - 0.5 + grid) * stride``, ``wh = (2 sigmoid)^2 * anchors[i] * stride``; returns boxes (bs, N, 4)
    xywh and scores obj * cls (bs, N, nc)."""
    anchors = sd[head + "anchors"].float()
    boxes, scores = [], []
    for i, x in enumerate(feats):
        w, b = sd[f"{head}m.{i}.weight"].float(), sd[f"{head}m.{i}.bias"].float()
        p = torch.nn.functional.conv2d(x, w, b)
        bs, _, ny, nx = p.shape
        na = anchors.shape[1]
        p = p.view(bs, na, -1, ny, nx).permute(0, 1, 3, 4, 2).sigmoid()
        yv, xv = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
        grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2).float() - 0.5
        xy = (p[..., :2] * 2 + grid) * stride[i]
        wh = (p[..., 2:4] * 2) ** 2 * (anchors[i] * stride[i]).view(1, na, 1, 1, 2)
        boxes.append(torch.cat((xy, wh), -1).reshape(bs, -1, 4))
        scores.append((p[..., 4:5] * p[..., 5:]).reshape(bs, -1, p.shape[-1] - 5))
    return torch.cat(boxes, 1), torch.cat(scores, 1)
