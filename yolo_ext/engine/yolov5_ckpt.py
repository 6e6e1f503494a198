"""YOLOv5 checkpoints (ultralytics/yolov5, v6.x/v7.x detection models) -> yolo-ext checkpoints, without YOLOv5's code.

``python -m yolo_ext.convert yolov5 IN.pt OUT.pt`` writes the converted file; ``--weights IN.pt`` and
``AnchorYOLO("IN.pt")`` (and the stock ``YOLO(...)`` after ``import yolo_ext``) convert in memory (the
``foreign_checkpoint`` seam hands ultralytics the converted checkpoint).

Mapping (YOLOv5 ``models/yolo.py``, ``DetectionModel`` / ``Detect``; Jocher et al.):
- the architecture: YOLOv5 stores its model YAML as ``model.yaml``; the same rows build our network with the head
  ``Detect`` -> ``AnchorDetect`` (``models/yolov5{n,s}.yaml`` are exactly those rows); m/l/x and P6 models differ only
  in ``depth_multiple`` / ``width_multiple`` / rows, all in our parser's vocabulary;
- every backbone/neck tensor keeps its name (``model.<i>.conv``, ``.bn``, ``.cv1``, ``.m.<j>``: same modules);
- ``model.<last>.m.<i>.{weight,bias}`` -> ``model.<last>.cv2.<i>.*`` (the per-level 1x1 prediction convs);
- ``model.<last>.anchors`` (nl, na, 2) in grid units (YOLOv5 divides the YAML anchors by the stride at build time)
  -> ``anchor_px`` = anchors x stride (input pixels), which also replace the YAML's anchors;
- ``anchor_grid`` (a buffer in YOLOv5 <= v5.0: the same anchors in pixels) is checked against ``anchor_px``, not copied.
Every tensor of the source must land (shape-checked), and every tensor of the built model must come from the source.
"""

from __future__ import annotations

import copy
import datetime
from pathlib import Path

import torch
import yaml
from ultralytics import __version__ as ULTRALYTICS_VERSION
from ultralytics.utils import LOGGER

from ..config.paths import MODELS
from .model import AnchorDetectionModel
from .yolov5_pickle import child, module_state_dict, pickled_module_prefix, qualname, restricted_load

# YOLOv5 v6 sizes: (depth_multiple, width_multiple) -> size letter
SIZES = {(0.33, 0.25): "n", (0.33, 0.50): "s", (0.67, 0.75): "m", (1.0, 1.0): "l", (1.33, 1.25): "x"}


class YOLOv5CheckpointError(ValueError):
    """A YOLOv5 checkpoint that cannot be converted exactly (the message names the file and what is wrong)."""


def is_yolov5_checkpoint(path) -> bool:
    """True for a ``torch.save`` archive whose pickle names YOLOv5's ``models.yolo`` module (read without unpickling)."""
    p = Path(str(path))
    return p.suffix == ".pt" and p.is_file() and pickled_module_prefix(p, "models.yolo")


def _source_model(ckpt, src: str):
    if not isinstance(ckpt, dict) or not ("model" in ckpt or "ema" in ckpt):
        raise YOLOv5CheckpointError(f"{src}: not a YOLOv5 training checkpoint (a dict with 'model' / 'ema')")
    model = ckpt.get("ema") or ckpt.get("model")  # YOLOv5's detect.py / val.py take the EMA first, as we do
    name = qualname(model)
    if name != "models.yolo.DetectionModel" and not name.endswith((".Model", ".DetectionModel")):
        raise YOLOv5CheckpointError(f"{src}: the model is a {name}; only YOLOv5 detection models (models.yolo."
                                    "DetectionModel) can be converted (segmentation / classification are not anchor "
                                    "detectors of this project)")
    return model


def our_model_dict(src_yaml: dict, anchors_px: torch.Tensor, nc: int, src: str) -> dict:
    """Our model dict from YOLOv5's ``model.yaml``: same rows, head ``Detect`` -> ``AnchorDetect``, ``nc`` and the
    anchors (pixels, from the checkpoint's tensors) filled in."""
    d = copy.deepcopy(src_yaml)
    head = d.get("head") or []
    if not head or not isinstance(head[-1], (list, tuple)) or head[-1][2] != "Detect":
        last = head[-1][2] if head and isinstance(head[-1], (list, tuple)) else None
        raise YOLOv5CheckpointError(f"{src}: the model YAML's last row is {last!r}, not YOLOv5's Detect head")
    f, n, _, args = head[-1]
    head[-1] = [f, n, "AnchorDetect", ["nc", "anchors"]]
    d.update(nc=nc, anchors=[[round(float(v), 4) for v in level.flatten()] for level in anchors_px])
    d.pop("yaml_file", None)
    return d


def bundled_match(d: dict) -> Path | None:
    """The bundled YAML (``models/*.yaml``) with the same rows, multiples and anchors per level as ``d`` (nc and the
    anchor sizes aside)."""
    key = ("depth_multiple", "width_multiple", "backbone", "head")
    for p in sorted(MODELS.glob("yolov5*.yaml")):
        b = yaml.safe_load(p.read_text())
        if all(b.get(k) == d.get(k) for k in key) and [len(a) for a in b["anchors"]] == [len(a) for a in d["anchors"]]:
            return p
    return None


def check_against_cfg(d: dict, cfg: Path, src: str) -> None:
    """Raise if ``cfg`` (a model YAML the user named) is not the checkpoint's architecture, naming the first difference."""
    b = yaml.safe_load(Path(cfg).read_text())
    for k in ("depth_multiple", "width_multiple"):
        if float(b.get(k, 1.0)) != float(d.get(k, 1.0)):
            raise YOLOv5CheckpointError(f"{src}: {k} {d.get(k)} != {b.get(k)} of {cfg}")
    rows_a, rows_b = d["backbone"] + d["head"], b.get("backbone", []) + b.get("head", [])
    for i, (ra, rb) in enumerate(zip(rows_a, rows_b)):
        if ra != rb:
            raise YOLOv5CheckpointError(f"{src}: layer {i} is {ra} in the checkpoint but {rb} in {cfg}")
    if len(rows_a) != len(rows_b):
        raise YOLOv5CheckpointError(f"{src}: {len(rows_a)} layers in the checkpoint, {len(rows_b)} in {cfg}")
    if b.get("anchors") and len(b["anchors"][0]) != len(d["anchors"][0]):
        raise YOLOv5CheckpointError(f"{src}: {len(d['anchors'][0]) // 2} anchors per level in the checkpoint, "
                                    f"{len(b['anchors'][0]) // 2} in {cfg}")


def map_state_dict(sd: dict, head_index: int, stride: torch.Tensor, src: str) -> dict:
    """YOLOv5 state-dict names -> ours (module docstring); anchors converted to pixels."""
    h = f"model.{head_index}."
    out = {}
    for k, v in sd.items():
        if not k.startswith(h):
            out[k] = v
        elif k == h + "anchors":
            out[h + "anchor_px"] = v.float() * stride.view(-1, 1, 1).float()
        elif k.startswith(h + "m."):
            out[h + "cv2." + k[len(h + "m."):]] = v
        elif k != h + "anchor_grid":
            raise YOLOv5CheckpointError(f"{src}: unexpected head tensor {k} {tuple(v.shape)} (not a YOLOv5 Detect head)")
    if h + "anchor_px" not in out:
        raise YOLOv5CheckpointError(f"{src}: no {h}anchors tensor in the checkpoint")
    grid = sd.get(h + "anchor_grid")
    if grid is not None and not torch.allclose(grid.float().reshape(out[h + "anchor_px"].shape), out[h + "anchor_px"],
                                               rtol=1e-3):
        raise YOLOv5CheckpointError(f"{src}: anchor_grid disagrees with anchors x stride")
    return out


def convert_yolov5(path, cfg=None) -> tuple[AnchorDetectionModel, dict]:
    """Read a YOLOv5 checkpoint (restricted unpickler) and build the equivalent ``AnchorDetectionModel``.

    Args:
        path: the YOLOv5 ``.pt``.
        cfg: optional model YAML to check the architecture against (default: the bundled YAML that matches, if any).

    Returns:
        (model in float32, info dict: ``size``, ``cfg`` (bundled/checked YAML or None), ``nc``, ``anchors`` px,
        ``tensors`` copied, ``epoch``, ``source``).

    Raises:
        YOLOv5CheckpointError: not a detection checkpoint, an unknown head tensor, or a tensor that would not land.
    """
    src = str(path)
    ckpt = restricted_load(path)
    m5 = _source_model(ckpt, src)
    sd = module_state_dict(m5)
    y = vars(m5).get("yaml")
    seq = child(m5, "model")
    if not isinstance(y, dict) or seq is None:
        raise YOLOv5CheckpointError(f"{src}: the model carries no YAML (model.yaml) or layer list (model.model)")
    head_index = len(vars(seq)["_modules"]) - 1
    stride = vars(child(seq, str(head_index))).get("stride")
    if not isinstance(stride, torch.Tensor):
        raise YOLOv5CheckpointError(f"{src}: the Detect head has no stride tensor")
    h = f"model.{head_index}."
    anchors = sd[h + "anchors"].float() * stride.view(-1, 1, 1).float()
    conv0 = sd[h + "m.0.weight"]
    nc = conv0.shape[0] // anchors.shape[1] - 5
    d = our_model_dict(y, anchors, nc, src)
    match = Path(cfg) if cfg else bundled_match(d)
    if cfg:
        check_against_cfg(d, Path(cfg), src)
    model = AnchorDetectionModel(d, nc=nc, verbose=False)
    if not torch.equal(model.stride.float(), stride.float()):
        raise YOLOv5CheckpointError(f"{src}: strides {stride.tolist()} != {model.stride.tolist()} of the built model")
    mapped = map_state_dict(sd, head_index, stride, src)
    ours = model.state_dict()
    extra = sorted(set(mapped) - set(ours))
    missing = sorted(set(ours) - set(mapped))
    bad = [k for k in mapped if k in ours and mapped[k].shape != ours[k].shape]
    if extra or missing or bad:
        raise YOLOv5CheckpointError(f"{src}: tensors did not land: {len(extra)} without a place (e.g. {extra[:3]}), "
                                    f"{len(missing)} not in the checkpoint (e.g. {missing[:3]}), {len(bad)} of another "
                                    f"shape (e.g. {bad[:3]})")
    model.load_state_dict({k: v.to(ours[k].dtype) for k, v in mapped.items()}, strict=True)
    names = vars(m5).get("names") or [str(i) for i in range(nc)]
    model.names = dict(enumerate(names)) if isinstance(names, (list, tuple)) else dict(names)
    size = SIZES.get((round(float(y.get("depth_multiple", 1)), 2), round(float(y.get("width_multiple", 1)), 2)))
    info = {"source": src, "size": size, "cfg": str(match) if match else None, "nc": nc, "tensors": len(mapped),
            "anchors": anchors.tolist(), "epoch": ckpt.get("epoch")}
    return model.float().eval(), info


def yolov5_to_ckpt(path, cfg=None) -> dict:
    """A yolo-ext (ultralytics-format) checkpoint dict of a YOLOv5 ``.pt``: what ``torch_safe_load`` returns."""
    model, info = convert_yolov5(path, cfg)
    LOGGER.info(describe(info))
    return {"date": datetime.datetime.now().isoformat(), "version": ULTRALYTICS_VERSION, "epoch": -1,
            "best_fitness": None, "model": model, "ema": None, "updates": None, "optimizer": None,
            "train_args": {"task": "detect"}, "train_metrics": None, "train_results": None,
            "yolov5_source": {k: v for k, v in info.items() if k != "anchors"}}


def describe(info: dict) -> str:
    arch = f"yolov5{info['size']}" if info["size"] else "a YOLOv5 architecture"
    cfg = f"matches {info['cfg']}" if info["cfg"] else "no bundled YAML; its architecture is stored in the checkpoint"
    return (f"YOLOv5 checkpoint {info['source']}: {arch} ({cfg}), nc={info['nc']}, "
            f"{info['tensors']}/{info['tensors']} tensors mapped (head m.* -> cv2.*, anchors x stride -> anchor_px)")
