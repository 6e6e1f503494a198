"""Which cells does each target get? Pure helpers (:func:`assignment_cells`, :func:`ignored_cells`) and the
per-level figure drawn by ``python -m yolo_ext.viz assign``.

Cell kinds: the *centre cell* of a positive is the cell containing its target's centre (``floor(cx * nx)``,
``floor(cy * ny)``, clamped into the grid, exactly YOLOv5's ``gxy.long()``); every other positive cell is an *extra*
cell (YOLOv5's two neighbours, the ``radius`` disc). A *duplicate* is an (image, anchor, row, column) claimed by more
than one positive of the level (two targets, or one target twice), which YOLOv5 allows and ``dedup`` removes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, NamedTuple, Optional, Sequence

import numpy as np
import torch
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..assign import Assigner, build_assigner
from ..nn.head import AnchorDetect
from .common import dimmed, level_name, new_figure

# Okabe-Ito colour-blind safe palette.
COLOURS = {"centre": "#D55E00", "extra": "#0072B2", "duplicate": "#CC00CC", "target": "#009E73", "ignored": "#222222"}
MAX_ALPHA = 0.9  # fill opacity of a weight-1 positive; opacity = MAX_ALPHA * weight
PANEL_IN, TOP_IN, BOTTOM_IN = 4.6, 1.25, 0.6  # layout of the assign figure, inches


@dataclass
class LevelCells:
    """Positives of one level of one image, as numpy arrays of length m (one row per positive, duplicates kept).

    Attributes:
        index, stride, shape: level number, stride (input pixels), grid (ny, nx).
        anchors_px: float (na, 2) anchor w,h in input pixels.
        anchor, gj, gi, target: int64 (m,) anchor, grid row, grid column, target row (into the targets given).
        weight: float32 (m,) loss weight.
        is_centre: bool (m,) the cell contains the target centre.
        is_duplicate: bool (m,) another positive of this level claims the same (image, anchor, row, column).
        ignore: None, or bool (na, ny, nx) negatives left out of the objectness loss (image 0).
    """

    index: int
    stride: float
    shape: tuple
    anchors_px: np.ndarray
    anchor: np.ndarray
    gj: np.ndarray
    gi: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    is_centre: np.ndarray
    is_duplicate: np.ndarray
    ignore: Optional[np.ndarray]

    @property
    def num(self) -> int:
        return int(self.anchor.shape[0])


class CellAssignment(NamedTuple):
    """Result of :func:`assignment_cells`: per-level cells, the assigner's stats (Python ints) and its canonical spec."""

    levels: List[LevelCells]
    stats: dict
    spec: str


def _head(model_or_head):
    head = model_or_head if isinstance(model_or_head, AnchorDetect) else model_or_head.model[-1]
    if not isinstance(head, AnchorDetect):
        raise ValueError(f"expected an AnchorDetect head or a model ending in one, got {type(head).__name__}")
    return head


def _as_targets(targets) -> torch.Tensor:
    """(n, 5) [class, cx, cy, w, h] -> (n, 6) with image index 0; (n, 6) passes through (single image only)."""
    t = torch.as_tensor(np.asarray(targets, dtype=np.float32)).reshape(-1, np.shape(targets)[-1] if np.size(targets) else 5)
    if t.shape[1] == 5:
        t = torch.cat((torch.zeros(t.shape[0], 1), t), 1)
    if t.shape[1] != 6:
        raise ValueError(f"targets must be (n, 5) [class, cx, cy, w, h] or (n, 6) [image, ...], got {tuple(t.shape)}")
    if t.shape[0] and (t[:, 0] != 0).any():
        raise ValueError("assignment_cells draws one image: every target must have image index 0")
    return t


def assignment_cells(model_or_head, spec, targets, imgsz, params: Optional[dict] = None,
                     preds: Optional[Sequence[torch.Tensor]] = None,
                     scores: Optional[Sequence[torch.Tensor]] = None) -> CellAssignment:
    """Run an assigner on one image's targets and describe every positive cell.

    Args:
        model_or_head: an ``AnchorDetectionModel`` (or any model whose last module is ``AnchorDetect``) or the head;
            only its anchors (``anchor_px``), strides and number of levels are used.
        spec: assigner spec (``"yolov5"``, ``"radius+dedup+ignore"``) or an already built ``Assigner``.
        targets: (n, 5) [class, cx, cy, w, h] normalised to the (letterboxed) input image.
        imgsz: input size in pixels, int (square) or (h, w); level grids are (h // stride, w // stride).
        params: assigner hyperparameters (``build_assigner`` keyword arguments).
        preds: per level decoded boxes (1, na, ny, nx, 4) xywh in input pixels; required when the assigner
            needs predictions (``ignore``, ``dedup`` with ``dedup_mode=iou``, ``simota``, ``tal``).
        scores: per level scores (1, na, ny, nx, nc) ``sigmoid(obj) * sigmoid(cls)``; required by ``simota`` / ``tal``.
    Returns:
        :class:`CellAssignment` with one :class:`LevelCells` per level.
    """

    head = _head(model_or_head)
    assigner = spec if isinstance(spec, Assigner) else build_assigner(spec, **(params or {}))
    h, w = (imgsz, imgsz) if np.ndim(imgsz) == 0 else tuple(imgsz)
    strides = [float(s) for s in head.stride]
    shapes = [(int(h // s), int(w // s)) for s in strides]
    t = _as_targets(targets)
    anchors = head.anchor_px.detach().float().cpu()
    cpu = lambda xs: None if xs is None else [x.detach().float().cpu() for x in xs]  # noqa: E731
    out = assigner(t, anchors, strides, shapes, cpu(preds), cpu(scores), batch_size=1)
    levels = [_describe_level(i, lt, t, strides[i], shapes[i], anchors[i]) for i, lt in enumerate(out.levels)]
    return CellAssignment(levels, {k: v.item() for k, v in out.stats.items()}, assigner.spec)


def _opacity(lt) -> torch.Tensor:
    """What a cell's opacity shows: its loss weight, times its soft objectness target where the strategy sets one
    (``tal``, ``simota``), floored at 0.15 so that a weak positive stays visible."""
    w = lt.weight.float()
    return w if lt.quality is None else (w * lt.quality.float()).clamp(min=0.15)


def _describe_level(i: int, lt, t: torch.Tensor, stride: float, shape, anchors: torch.Tensor) -> LevelCells:
    """LevelTargets of one level -> LevelCells (centre and duplicate flags, numpy)."""
    ny, nx = shape
    na = int(anchors.shape[0])
    gain = torch.tensor([nx, ny], dtype=torch.float32)
    centre = (t[lt.t, 2:4] * gain).long()  # same float32 product and truncation as the assigners' gxy.long()
    ci, cj = centre[:, 0].clamp(0, nx - 1), centre[:, 1].clamp(0, ny - 1)
    key = ((lt.b * na + lt.a) * ny + lt.gj) * nx + lt.gi
    _, inv, counts = torch.unique(key, return_inverse=True, return_counts=True)
    ignore = None if lt.ignore is None else lt.ignore[0].cpu().numpy()
    return LevelCells(
        index=i, stride=stride, shape=(ny, nx), anchors_px=anchors.numpy(),
        anchor=lt.a.cpu().numpy(), gj=lt.gj.cpu().numpy(), gi=lt.gi.cpu().numpy(), target=lt.t.cpu().numpy(),
        weight=_opacity(lt).cpu().numpy(), is_centre=((lt.gi == ci) & (lt.gj == cj)).cpu().numpy(),
        is_duplicate=(counts[inv] > 1).cpu().numpy(), ignore=ignore,
    )


def ignored_cells(level: LevelCells):
    """(anchor, gj, gi) int64 arrays of the ignored negatives of a level (empty when there is no ignore mask)."""
    if level.ignore is None:
        z = np.zeros(0, dtype=np.int64)
        return z, z.copy(), z.copy()
    a, gj, gi = np.nonzero(level.ignore)
    return a.astype(np.int64), gj.astype(np.int64), gi.astype(np.int64)


def unique_cells(level: LevelCells):
    """Collapse the positives to distinct (anchor, gj, gi) cells, as drawn.

    Returns a dict of arrays over the u distinct cells: ``anchor, gj, gi`` (int64), ``weight`` (max over the claims),
    ``centre`` (any claim is a centre cell), ``claims`` (number of positives on the cell, > 1 for duplicates).
    """
    ny, nx = level.shape
    key = (level.anchor * ny + level.gj) * nx + level.gi
    u, inv, claims = np.unique(key, return_inverse=True, return_counts=True)
    weight = np.zeros(u.shape, np.float32)
    np.maximum.at(weight, inv, level.weight)
    centre = np.zeros(u.shape, bool)
    np.logical_or.at(centre, inv, level.is_centre)
    return {"anchor": u // (ny * nx), "gj": (u // nx) % ny, "gi": u % nx, "weight": weight, "centre": centre, "claims": claims}


# --------------------------------------------------------------------------------------------- drawing
def _cell_polys(a, gj, gi, stride: float, na: int, shrink: float = 0.0) -> np.ndarray:
    """(k, 4, 2) corner polygons of cells; with na > 1 anchor a takes the a-th of na vertical strips of the cell."""
    w = stride / na
    x0 = gi * stride + a * w + shrink * w
    y0 = gj * stride + shrink * stride
    x1, y1 = x0 + w * (1 - 2 * shrink), y0 + stride * (1 - 2 * shrink)
    return np.stack([np.stack(p, -1) for p in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))], 1).astype(np.float32)


def _box_polys(boxes_px: np.ndarray) -> np.ndarray:
    """(n, 4) xywh pixels -> (n, 4, 2) rectangle polygons."""
    x0, y0 = boxes_px[:, 0] - boxes_px[:, 2] / 2, boxes_px[:, 1] - boxes_px[:, 3] / 2
    x1, y1 = x0 + boxes_px[:, 2], y0 + boxes_px[:, 3]
    return np.stack([np.stack(p, -1) for p in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))], 1)


def _draw_grid(ax, level: LevelCells, h: int, w: int, px_per_input_px: float):
    """Grid lines of the level, unless a cell is under 4 screen pixels."""
    s = level.stride
    if s * px_per_input_px < 4:
        return
    xs, ys = np.arange(0, w + 0.5, s), np.arange(0, h + 0.5, s)
    lw = 0.5 if s * px_per_input_px >= 12 else 0.3
    ax.vlines(xs, 0, h, colors=(0, 0, 0, 0.14), linewidths=lw, zorder=2)
    ax.hlines(ys, 0, w, colors=(0, 0, 0, 0.14), linewidths=lw, zorder=2)


def draw_level(ax, img: np.ndarray, level: LevelCells, boxes_px: np.ndarray, px_per_input_px: float) -> dict:
    """Draw one level panel on ``ax``; ``boxes_px`` (n, 4) target xywh in input pixels. Returns the panel's counts."""

    h, w = img.shape[:2]
    na = level.anchors_px.shape[0]
    ax.imshow(dimmed(img, keep=0.35), extent=(0, w, h, 0), interpolation="antialiased", zorder=0)
    _draw_grid(ax, level, h, w, px_per_input_px)
    c = unique_cells(level)
    if c["anchor"].size:
        rgba = np.array([to_rgba(COLOURS["centre"]), to_rgba(COLOURS["extra"])])[np.where(c["centre"], 0, 1)]
        rgba[:, 3] = MAX_ALPHA * np.clip(c["weight"], 0, 1)
        ax.add_collection(PolyCollection(_cell_polys(c["anchor"], c["gj"], c["gi"], level.stride, na), facecolors=rgba,
                                         edgecolors="none", zorder=3))
        dup = c["claims"] > 1
        if dup.any():
            lw = 1.4 if level.stride * px_per_input_px >= 8 else 0.9
            ax.add_collection(PolyCollection(_cell_polys(c["anchor"][dup], c["gj"][dup], c["gi"][dup], level.stride, na),
                                             facecolors="none", edgecolors=COLOURS["duplicate"], linewidths=lw, zorder=5))
    ia, ij, ii = ignored_cells(level)
    if ia.size:
        p = _cell_polys(ia, ij, ii, level.stride, na, shrink=0.18)
        segs = np.concatenate((p[:, [0, 2]], p[:, [1, 3]]), 0)  # the two diagonals: an 'x' per ignored cell
        ax.add_collection(LineCollection(segs, colors=COLOURS["ignored"], linewidths=0.6, zorder=4))
    here = np.zeros(len(boxes_px), bool)
    here[np.unique(level.target)] = True
    if len(boxes_px):
        polys = _box_polys(boxes_px)
        ax.add_collection(PolyCollection(polys[~here], facecolors="none", edgecolors=COLOURS["target"], linewidths=0.8,
                                         linestyles=(0, (2, 2)), alpha=0.6, zorder=6))
        ax.add_collection(PolyCollection(polys[here], facecolors="none", edgecolors=COLOURS["target"], linewidths=1.1, zorder=6))
        ax.plot(boxes_px[here, 0], boxes_px[here, 1], ".", ms=2.5, color=COLOURS["target"], zorder=7)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    return {"positives": level.num, "centre": int(level.is_centre.sum()), "extra": int((~level.is_centre).sum()),
            "duplicates": int(level.is_duplicate.sum()), "dup_cells": int((c["claims"] > 1).sum()),
            "ignored": int(ia.size), "targets_here": int(here.sum()), "targets": len(boxes_px)}


def panel_title(level: LevelCells, n: dict) -> str:
    """Two-line panel title with the level's counts."""
    ny, nx = level.shape
    l1 = f"{level_name(level.stride)}  stride {level.stride:g}, {ny}x{nx} grid, {len(level.anchors_px)} anchor(s)"
    l2 = f"{n['positives']} positives ({n['centre']} centre, {n['extra']} extra), {n['targets_here']}/{n['targets']} targets"
    l3 = f"{n['duplicates']} duplicate claims on {n['dup_cells']} cells" + (f", {n['ignored']} ignored" if n["ignored"] else "")
    return "\n".join((l1, l2, l3))


def legend_handles(levels: List[LevelCells], any_ignore: bool):
    """Legend entries explaining colours, opacity, duplicate edges, ignore marks, target boxes and anchor strips."""

    hs = [Patch(color=COLOURS["centre"], alpha=MAX_ALPHA, label="centre cell (holds the target centre)"),
          Patch(color=COLOURS["extra"], alpha=MAX_ALPHA, label="extra cell"),
          Patch(facecolor="none", edgecolor=COLOURS["duplicate"], linewidth=1.4, label="duplicate: cell claimed > 1 time"),
          Line2D([], [], color=COLOURS["target"], lw=1.1, label="target (positive on this level)"),
          Line2D([], [], color=COLOURS["target"], lw=0.8, ls=(0, (2, 2)), alpha=0.6, label="target (other levels only)")]
    if any((lv.weight < 1).any() for lv in levels):
        hs.insert(2, Patch(color=COLOURS["extra"], alpha=MAX_ALPHA * 0.5, label="opacity = loss weight (here 0.5)"))
    if any_ignore:
        hs.append(Line2D([], [], color=COLOURS["ignored"], marker="x", ls="none", ms=6, label="ignored negative (no obj loss)"))
    na = levels[0].anchors_px.shape[0]
    if na > 1:
        hs.append(Patch(facecolor="none", edgecolor="none", label=f"{na} anchors: anchor k = k-th vertical strip of a cell"))
    return hs


def anchor_note(levels: List[LevelCells]) -> str:
    """'anchors (px): P3 10x13, 16x30, ... | P4 ...' for the subtitle."""
    return " | ".join(f"{level_name(lv.stride)} " + ", ".join(f"{a[0]:g}x{a[1]:g}" for a in lv.anchors_px) for lv in levels)


def auto_view(boxes_px: np.ndarray, h: int, w: int, stride: float, min_fraction: float = 0.5):
    """Square zoom window (x0, y0, side) around all targets, or None when it would cover most of the image.

    The window holds every box (xywh pixels, (n, 4)) plus one ``stride`` margin, is snapped outwards to multiples of
    ``stride`` (so cell borders stay on the window edge) and is kept inside the image; None if there are no targets
    or the window side exceeds ``min_fraction`` of the image's long side.
    """
    if not len(boxes_px):
        return None
    lo = np.floor(((boxes_px[:, :2] - boxes_px[:, 2:] / 2).min(0) - stride) / stride) * stride
    hi = np.ceil(((boxes_px[:, :2] + boxes_px[:, 2:] / 2).max(0) + stride) / stride) * stride
    side = float(max(hi - lo))
    if side > min_fraction * max(h, w):
        return None
    centre = (lo + hi) / 2
    x0 = float(np.clip(np.round((centre[0] - side / 2) / stride) * stride, 0, max(w - side, 0)))
    y0 = float(np.clip(np.round((centre[1] - side / 2) / stride) * stride, 0, max(h - side, 0)))
    return x0, y0, side


def draw_assignment(img: np.ndarray, targets: np.ndarray, result: CellAssignment, subtitle: str = "",
                    panel_in: float = PANEL_IN, view="auto", dpi: float = 150):
    """Figure with one panel per level. ``img`` is the letterboxed RGB input (h, w, 3), ``targets`` (n, 5)
    [class, cx, cy, w, h] normalised to it; ``view`` is None (whole image), ``"auto"`` (zoom on the targets when
    they fill under half of the image, see :func:`auto_view`) or (x0, y0, side) in input pixels; ``dpi`` (the one the
    figure will be saved with) decides whether grid lines are legible (cells >= 4 screen pixels). Returns the
    matplotlib Figure (size n_levels * panel_in by panel_in + TOP_IN + BOTTOM_IN inches)."""
    h, w = img.shape[:2]
    boxes = np.asarray(targets, np.float32).reshape(-1, 5)[:, 1:] * np.array([w, h, w, h], np.float32)
    fig, axes = new_figure(len(result.levels), panel_in, TOP_IN, BOTTOM_IN)
    if isinstance(view, str):
        view = auto_view(boxes, h, w, max(lv.stride for lv in result.levels)) if view == "auto" else None
    side = view[2] if view is not None else max(h, w)
    px_per_input_px = panel_in * 0.92 * dpi / side  # screen pixels per input pixel
    if view is not None:
        subtitle += f"{'   |   ' if subtitle else ''}zoom: x {view[0]:g}-{view[0] + side:g}, y {view[1]:g}-{view[1] + side:g} px"
    counts = []
    for ax, level in zip(axes, result.levels):
        n = draw_level(ax, img, level, boxes, px_per_input_px)
        if view is not None:
            ax.set_xlim(view[0], view[0] + side)
            ax.set_ylim(view[1] + side, view[1])
        ax.set_title(panel_title(level, n), fontsize=8.5, linespacing=1.25, pad=4)
        counts.append(f"{level_name(level.stride)} {n['positives']}")
    H = panel_in + TOP_IN + BOTTOM_IN
    fig.suptitle(f"assigner '{result.spec}'   |   input {w}x{h}, {len(boxes)} targets   |   positives per level: "
                 + ", ".join(counts), fontsize=11, y=1 - 0.12 / H, va="top")
    sub = "anchors (px): " + anchor_note(result.levels) + (f"\n{subtitle}" if subtitle else "")
    fig.text(0.5, 1 - 0.42 / H, sub, ha="center", va="top", fontsize=8.5, color="#333333", linespacing=1.3)
    any_ignore = any(lv.ignore is not None for lv in result.levels)
    handles = legend_handles(result.levels, any_ignore)
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(handles)) if len(result.levels) > 1 else 2,
               fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.02 / H), handlelength=1.8, columnspacing=1.6)
    return fig
