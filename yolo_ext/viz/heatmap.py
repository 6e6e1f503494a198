"""Where does a trained anchor model fire? Per-level objectness maps over the image plus the final detections,
drawn by ``python -m yolo_ext.viz heatmap``.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
import torch
from matplotlib.collections import PolyCollection
from ultralytics.utils.nms import non_max_suppression

from .common import dimmed, level_name, new_figure

SCORES = ("obj", "obj*cls")
PANEL_IN, TOP_IN, BOTTOM_IN = 4.2, 0.8, 0.8  # layout of the heatmap figure, inches
CMAP = "inferno"
CLEAR_BELOW = 0.02  # scores under this fraction of vmax are left transparent, so the image shows where nothing fires
DET_COLOUR, GT_COLOUR = "#00E5FF", "#FFFFFF"


def score_maps(maps: Sequence[torch.Tensor], score: str = "obj") -> List[np.ndarray]:
    """Per level score map of image 0, max over anchors: float32 (ny, nx) in [0, 1].

    Args:
        maps: per level raw logits (bs, na, ny, nx, 5 + nc).
        score: ``"obj"``: sigmoid(objectness); ``"obj*cls"``: sigmoid(obj) * max over classes of sigmoid(cls)
            (the score NMS ranks by).
    """
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    out = []
    for m in maps:
        p = m[0].detach().float()
        s = p[..., 4].sigmoid()
        if score == "obj*cls":
            s = s * p[..., 5:].sigmoid().amax(-1)
        out.append(s.amax(0).cpu().numpy())
    return out


def detections(y: torch.Tensor, conf: float = 0.25, iou: float = 0.45, max_det: int = 300) -> np.ndarray:
    """Stock ultralytics NMS on the head's eval output ``y`` (1, 4 + nc, N) -> float32 (k, 6) [x1, y1, x2, y2, conf, cls]
    in input pixels."""

    return non_max_suppression(y, conf_thres=conf, iou_thres=iou, max_det=max_det)[0].cpu().numpy().astype(np.float32)


def _rects(ax, xyxy: np.ndarray, colour: str, lw: float, ls="solid", z: int = 5):
    if not len(xyxy):
        return
    x0, y0, x1, y1 = xyxy[:, 0], xyxy[:, 1], xyxy[:, 2], xyxy[:, 3]
    polys = np.stack([np.stack(p, -1) for p in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))], 1)
    ax.add_collection(PolyCollection(polys, facecolors="none", edgecolors=colour, linewidths=lw, linestyles=ls, zorder=z))


def draw_detections(ax, img: np.ndarray, dets: np.ndarray, gt_xyxy: Optional[np.ndarray], names: dict, label_max: int = 25):
    """Detections (k, 6) on the image; scores (and class names when nc > 1) written when k <= label_max."""
    h, w = img.shape[:2]
    ax.imshow(img, extent=(0, w, h, 0), interpolation="antialiased", zorder=0)
    if gt_xyxy is not None:
        _rects(ax, gt_xyxy, GT_COLOUR, 0.9, ls=(0, (2, 2)), z=4)
    _rects(ax, dets[:, :4], DET_COLOUR, 1.2)
    if 0 < len(dets) <= label_max:
        multi = len(names) > 1
        for x0, y0, _, _, c, k in dets.tolist():  # at most label_max text labels
            txt = f"{names.get(int(k), int(k))} {c:.2f}" if multi else f"{c:.2f}"
            ax.text(x0, y0, txt, fontsize=6, color="black", va="bottom", ha="left", zorder=6,
                    bbox=dict(boxstyle="square,pad=0.1", fc=DET_COLOUR, ec="none", alpha=0.85))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)


def draw_heatmap(img: np.ndarray, heat: List[np.ndarray], strides: Sequence[float], dets: np.ndarray, *,
                 score: str = "obj", conf: float = 0.25, iou: float = 0.45, names: Optional[dict] = None,
                 gt_xyxy: Optional[np.ndarray] = None, vmax: Optional[float] = None, interp: str = "nearest",
                 title: str = "", panel_in: float = PANEL_IN):
    """One panel per level (score map over the greyed image, a shared colour scale [0, vmax]) and one panel of the
    detections after NMS. ``vmax`` defaults to the largest score over all levels (so weak models stay visible; the
    colourbar says so). Returns the Figure ((nl + 1) * panel_in by panel_in + TOP_IN + BOTTOM_IN inches)."""

    h, w = img.shape[:2]
    nl = len(heat)
    top = max(float(m.max()) for m in heat) if heat else 1.0
    vmax = float(vmax) if vmax else max(top, 1e-6)
    fig, axes = new_figure(nl + 1, panel_in, TOP_IN, BOTTOM_IN)
    im = None
    for ax, m, s in zip(axes, heat, strides):
        ax.imshow(dimmed(img, keep=0.6), extent=(0, w, h, 0), zorder=0)
        im = ax.imshow(np.ma.masked_less(m, CLEAR_BELOW * vmax), extent=(0, m.shape[1] * s, m.shape[0] * s, 0), cmap=CMAP, vmin=0.0, vmax=vmax, alpha=0.72,
                       interpolation=interp, zorder=1)
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        arg = np.unravel_index(int(np.argmax(m)), m.shape)
        ax.set_title(f"{level_name(s)}  stride {s:g}, {m.shape[0]}x{m.shape[1]} grid\n"
                     f"max {score} {m.max():.3f} at cell (row {arg[0]}, col {arg[1]})", fontsize=8.5, pad=4)
    draw_detections(axes[-1], img, dets, gt_xyxy, names or {})
    axes[-1].set_title(f"after NMS (conf >= {conf:g}, IoU {iou:g})\n{len(dets)} detections"
                       + (", dashed: labels" if gt_xyxy is not None else ""), fontsize=8.5, pad=4)
    H, W = panel_in + TOP_IN + BOTTOM_IN, (nl + 1) * panel_in
    fig.suptitle(title, fontsize=11, y=1 - 0.1 / H, va="top")
    if im is not None:
        cax = fig.add_axes([0.25 * panel_in / W, 0.42 / H, (nl - 0.5) * panel_in / W, 0.11 / H])
        cb = fig.colorbar(im, cax=cax, orientation="horizontal")
        label = "sigmoid(obj)" if score == "obj" else "sigmoid(obj) * max_c sigmoid(cls)"
        cb.set_label(f"{label}, max over anchors (scale 0 .. {vmax:.3g}; below {CLEAR_BELOW * vmax:.2g} transparent)",
                     fontsize=8)
        cb.ax.tick_params(labelsize=7)
    return fig
