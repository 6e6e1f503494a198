"""``atss``: Adaptive Training Sample Selection (Zhang et al., "Bridging the Gap Between Anchor-based and
Anchor-free Detection via Adaptive Training Sample Selection", CVPR 2020; as SCRFD trains with it).

Per target: on every level the ``atss_topk`` anchors whose centres are closest to the target centre are candidates;
the IoU threshold is the mean plus the standard deviation of the candidates' anchor-box IoUs with the target; the
positives are the candidates with IoU >= that threshold whose centre lies inside the target box; a cell claimed by
several targets learns from the one with the highest IoU.
"""

from __future__ import annotations

import math
from typing import List, Sequence

import torch

from ..ops import box_iou_xywh, cell_key
from .base import JointStrategy, check_int
from .candidates import Cands, best_per_cell, level_offsets, sortable, split_levels
from .context import LevelContext, anchor_boxes_px, targets_to_pixels
from .types import LevelTargets

INSIDE_EPS = 0.01  # px: an anchor centre counts as inside a box when it is more than this from every side (mmdet)


def nearest_window(k: int, na: int) -> int:
    """Half-size H (cells) of a square window around a target's cell holding its k nearest anchors (na per cell).

    The k nearest anchors occupy ceil(k / na) cell centres. For m = ceil(sqrt(ceil(k / na))), an m x m block of
    cells containing the target's cell (shifted to fit the grid) has every centre within sqrt(2) * (m - 0.5) of
    the target centre, so all k nearest (and every tie) lie within that Euclidean distance R, hence within
    ``|i - ci| <= floor(R + 0.5)`` columns (and rows) of the target's cell ci.
    """
    m = math.ceil(math.sqrt(math.ceil(k / na)))
    return int(math.floor(math.sqrt(2.0) * (m - 0.5) + 0.5))


class ATSSAssigner(JointStrategy):
    """ATSS over the anchor head's cells (see the module docstring); weights 1, no soft targets.

    Exactly as mmdetection's ``ATSSAssigner``: per level ``min(atss_topk, na * ny * nx)`` candidates by centre
    distance (pixels; ties: lower (row, column, anchor) index), threshold ``mean + std`` (the unbiased std over the
    ``nl * k`` candidates of a target), positives ``IoU >= threshold`` and centre inside the box (more than 0.01 px
    from every side); per cell the positive target with the highest IoU (ties: lowest target row). The distance ranking
    runs on a small window per target, checked exactly and widened where needed (``_level``).
    """

    DESCRIPTION = "ATSS: per level the atss_topk nearest anchors; IoU >= mean + std of them and centre inside the box"
    PARAMS = {"atss_topk": 9}

    def __init__(self, atss_topk: int = 9):
        self.atss_topk = check_int("atss_topk", atss_topk, lambda v: v >= 1, ">= 1 (candidates per level)")

    def _nearest(self, ctx: LevelContext, k: int, h: int, box: torch.Tensor, rows: torch.Tensor):
        """The k nearest anchors of targets ``rows`` (int64 (n,)) in a window of (2h + 1)^2 cells shifted inside the
        grid. Returns gi, gj, a: int64 (n, k); and ok: bool (n,), the k-th distance is below that of every cell
        outside the window (else the caller widens the window for that target)."""
        na, dev = ctx.na, box.device
        side_x, side_y = min(2 * h + 1, ctx.nx), min(2 * h + 1, ctx.ny)
        tg = ctx.tg.index_select(0, rows)
        ci = tg[:, 2].long().clamp(0, ctx.nx - 1)
        cj = tg[:, 3].long().clamp(0, ctx.ny - 1)
        i0 = (ci - h).clamp(0, ctx.nx - side_x)
        j0 = (cj - h).clamp(0, ctx.ny - side_y)
        dj, di = (x.reshape(-1) for x in torch.meshgrid(torch.arange(side_y, device=dev), torch.arange(side_x, device=dev),
                                                        indexing="ij"))  # row-major window
        gi, gj = i0[:, None] + di, j0[:, None] + dj  # (n, W)
        s, bx = ctx.stride, box.index_select(0, rows)
        ex, ey = (gi.float() + 0.5) * s - bx[:, :1], (gj.float() + 0.5) * s - bx[:, 1:2]
        dist = (ex * ex + ey * ey).sqrt()
        # anchors of a cell in anchor order, (n, W * na): mmdet's (row, column, anchor) order breaks distance ties
        w = dist.shape[1] * na
        key = (sortable(dist[:, :, None].expand(-1, -1, na).reshape(-1, w)) << 20) | torch.arange(w, device=dev)
        kth, order = torch.topk(key, k, dim=1, largest=False, sorted=True)
        cell, a = order // na, order % na
        # nearest cell outside the window, per axis (px); an axis the window covers entirely has none
        inf = torch.full_like(bx[:, 0], float("inf"))
        out_x = torch.min(torch.where(i0 > 0, bx[:, 0] - (i0.float() - 0.5) * s, inf),
                          torch.where(i0 + side_x < ctx.nx, (i0 + side_x).float().add(0.5) * s - bx[:, 0], inf))
        out_y = torch.min(torch.where(j0 > 0, bx[:, 1] - (j0.float() - 0.5) * s, inf),
                          torch.where(j0 + side_y < ctx.ny, (j0 + side_y).float().add(0.5) * s - bx[:, 1], inf))
        ok = dist.gather(1, cell[:, -1:]).squeeze(1) < torch.min(out_x, out_y)
        return gi.gather(1, cell), gj.gather(1, cell), a, ok

    def _level(self, ctx: LevelContext, k_off: int, lvl: int):
        """The k nearest anchors of every target on one level: Cands fields (nt, k) each, the IoUs and the inside
        test (nt, k). A 5 x 5 window for k = 9 with one anchor per cell (3 x 3 for 3 anchors), checked exactly per
        target; a target whose k-th distance does not clear the window edge (near the grid border) is redone with
        the window of :func:`nearest_window`, which always holds the k nearest."""
        na, nt, dev = ctx.na, ctx.tg.shape[0], ctx.tg.device
        k = min(self.atss_topk, na * ctx.ny * ctx.nx)
        m = math.ceil(math.sqrt(math.ceil(k / na)))
        box = targets_to_pixels(ctx)  # (nt, 4) px
        rows = torch.arange(nt, device=dev)
        gi, gj, a, ok = self._nearest(ctx, k, m - 1, box, rows)
        redo = (~ok).nonzero().squeeze(1)
        if redo.numel():
            h = nearest_window(k, na)
            if min(ctx.ny, ctx.nx) < m:  # a thin grid: the nearest lie along a line
                h = max(h, math.ceil(k / na))
            wide = self._nearest(ctx, k, h, box, redo)
            gi, gj, a = (x.index_copy(0, redo, y) for x, y in zip((gi, gj, a), wide[:3]))
        t = rows[:, None].expand(-1, k)
        b = ctx.tg[:, 0].long()[:, None].expand(-1, k)
        key = cell_key(b, a, gj, gi, na, ctx.ny, ctx.nx) + k_off
        fields = [torch.full_like(t, lvl), t, b, a, gj, gi, key]
        flat = [f.reshape(-1) for f in fields]
        anchors = anchor_boxes_px(ctx, flat[3], flat[5], flat[4])
        tb = box.index_select(0, flat[1])
        iou = box_iou_xywh(anchors, tb).view(nt, k)
        lo, hi = tb[:, :2] - tb[:, 2:] / 2, tb[:, :2] + tb[:, 2:] / 2
        inside = torch.cat((anchors[:, :2] - lo, hi - anchors[:, :2]), 1).amin(1) > INSIDE_EPS
        return fields, iou, inside.view(nt, k)

    def assign_levels(self, ctxs: Sequence[LevelContext], matches: List[torch.Tensor]) -> List[LevelTargets]:
        offs = level_offsets(ctxs)
        per = [self._level(ctx, offs[i], i) for i, ctx in enumerate(ctxs)]
        fields = [torch.cat(x, 1) for x in zip(*(p[0] for p in per))]  # (nt, K) each, K = sum of per-level k
        iou = torch.cat([p[1] for p in per], 1)
        inside = torch.cat([p[2] for p in per], 1)
        std = iou.std(1, keepdim=True) if iou.shape[0] else iou.sum(1, keepdim=True)  # unbiased (torch's, as mmdet)
        thr = iou.mean(1, keepdim=True) + std
        pos = ((iou >= thr) & inside).reshape(-1)
        c = Cands(*(f.reshape(-1) for f in fields))
        idx = pos.nonzero().squeeze(1)
        c, q = c.take(idx), iou.reshape(-1).index_select(0, idx)
        keep = best_per_cell(c.key, q, c.t, offs[-1])
        return split_levels(ctxs, c, keep)
