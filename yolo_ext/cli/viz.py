"""``python -m yolo_ext.viz {assign,heatmap} ...``: paper-figure views of label assignment and of a trained model.

Both commands letterbox the image to a square ``--imgsz`` input like ultralytics' validator (keep aspect ratio,
scale up or down, pad with grey 114) and draw in input pixels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from ..assign import build_assigner
from ..config.overrides import parse_set
from ..config.validate import validate
from ..viz.assign import assignment_cells, draw_assignment
from ..viz.common import (build_model, check_imgsz, default_label_path, letterbox, letterbox_labels, level_name,
                          load_image, load_weights, read_labels, run_model, save_figure)
from ..viz.heatmap import detections, draw_heatmap, score_maps

GEOMETRY = """Geometry: the image is letterboxed to a square --imgsz input like ultralytics' validator (keep the aspect
ratio, scale up or down, pad with grey 114); labels are mapped into it and everything is drawn in input pixels.
Run 'python -m yolo_ext.viz assign --help' / 'heatmap --help' for the options."""

EPILOG_ASSIGN = """examples:
  python -m yolo_ext.viz assign --assigner yolov5 --image data/images/val/im0.jpg --cfg yolov5n.yaml --out a.png
  python -m yolo_ext.viz assign --assigner radius+dedup+ignore --set radius_scale=0.7 ignore_iou=0.6 \\
      --image im.jpg --labels im.txt --weights best.pt --imgsz 416 --out a.png
Strategies that read predictions (ignore, dedup with dedup_mode=iou) use the decoded boxes of --weights, or of a
random-init --cfg model when no weights are given (the figure says which). Strategies and their parameters:
'python train.py --assigner list'."""

EPILOG_HEATMAP = """example:
  python -m yolo_ext.viz heatmap --weights runs/train/exp/weights/best.pt --image im.jpg --out heat.png
Each level panel shows the max over anchors of the score per cell; the last panel the detections after NMS."""


def _common_args(p: argparse.ArgumentParser):
    p.add_argument("--image", required=True, help="input image (any size; letterboxed to --imgsz)")
    p.add_argument("--out", required=True, help="output figure (.png, .pdf, .svg); written atomically")
    p.add_argument("--imgsz", type=int, default=640, help="square input size in pixels, a multiple of the largest stride")
    p.add_argument("--dpi", type=float, default=150, help="figure resolution (dots per inch)")
    p.add_argument("--palette", action="store_true", help="PNG with 256 colours (2-3x smaller; for docs and the web)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m yolo_ext.viz", formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="Paper figures: label assignment per level (assign) and objectness maps "
                                 "of a trained model (heatmap).", epilog=GEOMETRY)
    sub = ap.add_subparsers(dest="command", required=True, metavar="{assign,heatmap}")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    class Fmt(fmt, argparse.RawDescriptionHelpFormatter):
        pass

    a = sub.add_parser("assign", help="cells each target is assigned to, one panel per level", epilog=EPILOG_ASSIGN,
                       formatter_class=Fmt, description="Draw, per detection level, the letterboxed image with its "
                       "targets and the positive cells\nan assigner gives them: centre vs extra cells, loss weights as "
                       "opacity, ignored negatives,\nduplicated (image, anchor, cell) claims.")
    a.add_argument("--assigner", default="yolov5", help="assigner spec, e.g. yolov5, distance, radius+dedup+ignore")
    a.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                   help="assigner parameters, e.g. anchor_t=3.0 (repeatable: every --set counts)")
    a.add_argument("--labels", default=None, help="YOLO label file (class cx cy w h, normalised); default: the "
                   "ultralytics convention (last /images/ -> /labels/, suffix .txt)")
    a.add_argument("--cfg", default="yolov5n.yaml", help="model YAML (path or name in models/) giving anchors, strides "
                   "and levels; ignored when --weights is given")
    a.add_argument("--weights", default=None, help="checkpoint whose anchors and predictions to use")
    a.add_argument("--seed", type=int, default=0, help="seed of the random-init model (predictions without --weights)")
    a.add_argument("--panel-size", type=float, default=4.6, help="panel width and height in inches")
    a.add_argument("--view", default="auto", help="'auto' (zoom on the targets when they fill under half the image), "
                   "'full', or 'X0,Y0,SIDE': a square window in input pixels")
    _common_args(a)
    h = sub.add_parser("heatmap", help="per-level objectness maps of a trained model and its detections",
                       epilog=EPILOG_HEATMAP, formatter_class=Fmt, description="Draw each level's objectness "
                       "(max over anchors) of a trained anchor model over the\nletterboxed image, and its detections "
                       "after NMS.")
    h.add_argument("--weights", required=True, help="trained checkpoint (.pt) of an AnchorDetect model")
    h.add_argument("--score", choices=("obj", "obj*cls"), default="obj", help="map sigmoid(obj) or sigmoid(obj)*max cls")
    h.add_argument("--labels", default=None, help="optional YOLO label file drawn dashed on the detections panel")
    h.add_argument("--conf", type=float, default=0.25, help="NMS confidence threshold")
    h.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold")
    h.add_argument("--vmax", type=float, default=None, help="top of the colour scale; default: the largest score shown")
    h.add_argument("--interp", choices=("nearest", "bilinear"), default="nearest", help="upsampling of the cell maps")
    h.add_argument("--panel-size", type=float, default=4.2, help="panel width and height in inches")
    _common_args(h)
    return ap


def _prepare(a, model):
    """Letterboxed image, letterbox params and the original image, with imgsz checked against the model."""

    img = load_image(a.image)
    check_imgsz(a.imgsz, model.model[-1].stride)
    lb_img, lb = letterbox(img, a.imgsz)
    return img, lb_img, lb


def _labels(a, lb, required: bool) -> Optional[np.ndarray]:
    path = Path(a.labels) if a.labels else default_label_path(a.image)
    if not path.is_file() and not required and not a.labels:
        return None
    if not path.is_file():
        how = "--labels" if a.labels else f"labels for {a.image} (ultralytics convention; pass --labels)"
        raise FileNotFoundError(f"{how}: file not found: {path}")
    return letterbox_labels(read_labels(path), lb, a.imgsz)


def _view(text: str):
    """--view value -> 'auto', None (full image) or (x0, y0, side) floats."""
    if text in ("auto", "full"):
        return None if text == "full" else "auto"
    try:
        x0, y0, side = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--view must be 'auto', 'full' or 'X0,Y0,SIDE' (input pixels), got {text!r}") from None
    if side <= 0:
        raise ValueError(f"--view: SIDE must be > 0, got {side:g}")
    return x0, y0, side


def assign_cmd(a) -> Path:
    params, view = parse_set(a.set), _view(a.view)
    validate({"assigner": a.assigner, **params})  # names, types and ranges, before the model is built
    assigner = build_assigner(a.assigner, **params)
    model, desc = build_model(a.cfg, a.weights, a.seed)
    img, lb_img, lb = _prepare(a, model)
    targets = _labels(a, lb, required=True)
    preds, scores, sub = None, None, f"anchors and strides from {desc.replace('random-init ', '')}"
    if assigner.needs_preds:
        _, maps, preds = run_model(model, lb_img)
        if assigner.needs_scores:
            scores = [m[..., 4:5].sigmoid() * m[..., 5:].sigmoid() for m in maps]
        users = " / ".join(n for n in assigner.names if assigner.components[n].needs_preds
                           or assigner.components[n].needs_scores)
        sub = f"predictions for {users} from {desc}" + ("" if a.weights else f" (seed {a.seed}; no --weights: untrained)")
    if params:
        sub += "   |   " + ", ".join(f"{k}={v}" for k, v in params.items())
    h0, w0 = lb["orig_shape"]
    sub += f"   |   {Path(a.image).name} {w0}x{h0} letterboxed (x{lb['ratio']:.3g})"
    result = assignment_cells(model, assigner, targets, a.imgsz, preds=preds, scores=scores)
    fig = draw_assignment(lb_img, targets, result, subtitle=sub, panel_in=a.panel_size, view=view, dpi=a.dpi)
    out = save_figure(fig, a.out, a.dpi, palette=a.palette)
    per = ", ".join(f"{level_name(lv.stride)} {lv.num}" for lv in result.levels)
    print(f"{out}: {result.spec}, {len(targets)} targets, positives per level {per}, stats {result.stats}")
    return out


def heatmap_cmd(a) -> Path:
    model = load_weights(a.weights)
    img, lb_img, lb = _prepare(a, model)
    gt = _labels(a, lb, required=bool(a.labels))
    y, maps, _ = run_model(model, lb_img)
    heat = score_maps(maps, a.score)
    dets = detections(y, a.conf, a.iou)
    gt_xyxy = None
    if gt is not None:
        b = gt[:, 1:] * a.imgsz
        gt_xyxy = np.concatenate((b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2), 1)
    strides = [float(s) for s in model.model[-1].stride]
    names = dict(getattr(model, "names", {}) or {})
    title = f"{Path(a.weights).name} on {Path(a.image).name}  |  input {a.imgsz}x{a.imgsz}  |  score: {a.score}"
    fig = draw_heatmap(lb_img, heat, strides, dets, score=a.score, conf=a.conf, iou=a.iou, names=names, gt_xyxy=gt_xyxy,
                       vmax=a.vmax, interp=a.interp, title=title, panel_in=a.panel_size)
    out = save_figure(fig, a.out, a.dpi, palette=a.palette)
    print(f"{out}: {len(dets)} detections, max {a.score} per level " + ", ".join(f"{m.max():.3f}" for m in heat))
    return out


def main(argv=None) -> Path:
    a = build_parser().parse_args(argv)
    try:
        return (assign_cmd if a.command == "assign" else heatmap_cmd)(a)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main(sys.argv[1:])
