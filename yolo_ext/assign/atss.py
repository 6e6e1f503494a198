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
from .candidates import Cands, best_per_cell, level_offsets, split_levels
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
    runs on a fixed window per target (:func:`nearest_window`): 5 x 5 cells for k = 9 with 1 anchor per cell.
    """

    DESCRIPTION = "ATSS: per level the atss_topk nearest anchors; IoU >= mean + std of them and centre inside the box"
    PARAMS = {"atss_topk": 9}

    def __init__(self, atss_topk: int = 9):
        self.atss_topk = check_int("atss_topk", atss_topk, lambda v: v >= 1, ">= 1 (candidates per level)")

    def _level(self, ctx: LevelContext, k_off: int, lvl: int):
        """The k nearest anchors of every target on one level: Cands fields (nt, k) each, and the IoUs (nt, k)."""
        na, nt, dev = ctx.na, ctx.tg.shape[0], ctx.tg.device
        k = min(self.atss_topk, na * ctx.ny * ctx.nx)
        h = nearest_window(k, na)
        if min(ctx.ny, ctx.nx) < math.ceil(math.sqrt(math.ceil(k / na))):  # a thin grid: the nearest lie along a line
            h = max(h, math.ceil(k / na))
        d = torch.arange(-h, h + 1, device=dev)
        dj, di = (x.reshape(-1) for x in torch.meshgrid(d, d, indexing="ij"))  # row-major window
        ci = ctx.tg[:, 2].long().clamp(0, ctx.nx - 1)
        cj = ctx.tg[:, 3].long().clamp(0, ctx.ny - 1)
        gi, gj = ci[:, None] + di, cj[:, None] + dj  # (nt, W)
        valid = (gi >= 0) & (gi < ctx.nx) & (gj >= 0) & (gj < ctx.ny)
        gi, gj = gi.clamp(0, ctx.nx - 1), gj.clamp(0, ctx.ny - 1)
        box = targets_to_pixels(ctx)  # (nt, 4) px
        s = ctx.stride
        dist = (((gi.float() + 0.5) * s - box[:, :1]) ** 2 + ((gj.float() + 0.5) * s - box[:, 1:2]) ** 2).sqrt()
        dist = torch.where(valid, dist, torch.full_like(dist, float("inf")))
        # anchors of a cell in anchor order: (nt, W * na), mmdet's (row, column, anchor) order
        dist = dist[:, :, None].expand(-1, -1, na).reshape(nt, dist.shape[1] * na)
        dist, order = torch.sort(dist, dim=1, stable=True)
        order, found = order[:, :k], torch.isfinite(dist[:, :k])
        cell, a = order // na, order % na
        gi, gj = gi.gather(1, cell), gj.gather(1, cell)
        t = torch.arange(nt, device=dev)[:, None].expand(-1, k)
        b = ctx.tg[:, 0].long()[:, None].expand(-1, k)
        key = cell_key(b, a, gj, gi, na, ctx.ny, ctx.nx) + k_off
        fields = [torch.full_like(t, lvl), t, b, a, gj, gi, key]
        flat = [f.reshape(-1) for f in fields]
        anchors = anchor_boxes_px(ctx, flat[3], flat[5], flat[4])
        iou = box_iou_xywh(anchors, box.index_select(0, flat[1])).view(nt, k)
        inside = torch.stack((anchors[:, 0] - (box[flat[1], 0] - box[flat[1], 2] / 2),
                              anchors[:, 1] - (box[flat[1], 1] - box[flat[1], 3] / 2),
                              (box[flat[1], 0] + box[flat[1], 2] / 2) - anchors[:, 0],
                              (box[flat[1], 1] + box[flat[1], 3] / 2) - anchors[:, 1]), 1).amin(1) > INSIDE_EPS
        return fields, iou, inside.view(nt, k) & found

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
