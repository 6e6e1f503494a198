"""``ignore`` modifier: YOLOv3-style ignoring of well-overlapping negatives.

Redmon & Farhadi, "YOLOv3: An Incremental Improvement", 2018, section 2.1: a prediction that is
not assigned to a ground truth but overlaps one by more than a threshold (".5" in the paper;
darknet's yolov3.cfg ships ``ignore_thresh=.7``) incurs no objectness loss.
"""

from __future__ import annotations

from typing import Dict

import torch

from ..ops import box_iou_xywh, cell_key, expand_ranges
from .base import Modifier, add_stat, check_number
from .context import LevelContext, targets_to_pixels
from .types import LevelTargets


def iou_reach(tau: float) -> float:
    """Half-extent factor k: IoU(P, T) > tau implies |cx_P - cx_T| < k * w_T (and likewise in y).

    From Inter > tau * max(A_T, A_P) and Inter <= Ix * min(h_T, h_P): the x-overlap Ix exceeds
    tau * max(w_T, w_P), and w_P < w_T / tau^2; with |dx| <= (w_T + w_P) / 2 - Ix this gives
    k = 1 - tau for tau >= 0.5 and k = 1/2 + (1/2 - tau) / tau^2 below.
    """
    return 1.0 - tau if tau >= 0.5 else 0.5 + (0.5 - tau) / tau**2


class IgnoreModifier(Modifier):
    """Mark negatives whose prediction overlaps a target of their image with IoU > ``ignore_iou``.

    Returns per level a bool (bs, na, ny, nx) ``ignore`` mask (bs = preds[i].shape[0]); cells that
    are positives (after ``dedup``) are never ignored; a mask the base already set (``maxiou``'s band) is kept (or-ed).
    Needs ``preds`` (decoded boxes, pixels).

    Exact, without the dense (bs, cells, max_targets) IoU: by :func:`iou_reach`, only predictions
    whose centre lies within k*w, k*h of a target centre can exceed the threshold. Predictions are
    indexed by cell, so the per-level maximum displacement D of a predicted centre from its own
    cell centre is measured, and each target is paired with the cells whose centre is within
    k*w + D (k*h + D) of it. For YOLOv5-decoded predictions D <= 1 stride, so the work grows with
    the number of targets and their area in cells, not with the batch's cell count times targets. A level whose
    largest predicted box is not wider and taller than ``ignore_iou`` times a target is skipped for that target
    (large faces on P3, for YOLOv5 boxes at most 4 anchors wide).
    ``stats["ignored"]`` counts ignored cells (all levels). Acts through ``adjust_level``,
    registered last among the shipped modifiers so that it sees the final positives.
    """

    DESCRIPTION = "YOLOv3: negatives whose prediction has IoU > ignore_iou with a target get no objectness loss"
    PARAMS = {"ignore_iou": 0.5}
    needs_preds = True

    def __init__(self, ignore_iou: float = 0.5):
        self.ignore_iou = check_number("ignore_iou", ignore_iou, lambda v: 0.0 < v < 1.0, "in (0, 1) (an IoU threshold)")

    def _candidates(self, ctx: LevelContext, boxes: torch.Tensor):
        """Cells (owner target, row, column) whose prediction may overlap a target > ignore_iou.

        Args:
            boxes: float32 (n, 4) target boxes xywh in pixels.
        Returns:
            owner, gj, gi: int64 (P,) target index, row and column of each candidate cell.
        """
        p, s = ctx.preds, ctx.stride
        # largest displacement of a predicted centre from its own cell centre, per axis (px); reduce over
        # (image, anchor) first so that the full-size tensor is only read, never copied
        cols, rows = torch.arange(ctx.nx, device=p.device), torch.arange(ctx.ny, device=p.device)
        centre = (torch.stack(torch.meshgrid(cols, rows, indexing="xy"), -1) + 0.5) * s  # (ny, nx, 2) x, y
        lo_xy, hi_xy = torch.aminmax(p.reshape(-1, ctx.ny, ctx.nx, 4), dim=0)
        disp = torch.max(hi_xy[..., :2].float() - centre, centre - lo_xy[..., :2].float()).amax(dim=(0, 1))  # (2,)
        reach = boxes[:, 2:4] * (iou_reach(self.ignore_iou) * 1.001) + disp + 1e-3  # (n, 2) px
        # cell i qualifies when its centre (i + 0.5) * s is strictly within reach of the target centre
        lo = torch.floor((boxes[:, :2] - reach) / s - 0.5).long() + 1
        hi = torch.ceil((boxes[:, :2] + reach) / s - 0.5).long() - 1
        i0, j0 = lo.clamp(min=0).unbind(1)
        ncol = (hi[:, 0].clamp(max=ctx.nx - 1) - i0 + 1).clamp(min=0)
        nrow = (hi[:, 1].clamp(max=ctx.ny - 1) - j0 + 1).clamp(min=0)
        # IoU > tau needs min(w_P, w_T) * min(h_P, h_T) > tau * w_T * h_T, so w_P > tau * w_T and h_P > tau * h_T: a
        # level whose largest predicted box is narrower (or lower) than that holds no candidate for the target
        wh_max = hi_xy[..., 2:4].float().amax(dim=(0, 1))  # (2,) px
        fits = (wh_max > boxes[:, 2:4] * self.ignore_iou).all(1)
        counts = ncol * nrow * fits
        # the host must learn the candidate count to size the output (the one sync dynamic shapes
        # need, which repeat_interleave would otherwise make itself): read the finiteness check with it
        total, finite = torch.stack((counts.sum(), torch.isfinite(disp).all().long())).tolist()
        if not finite:
            raise ValueError(f"preds[{ctx.index}] holds non-finite box centres")
        owner, local = expand_ranges(counts, total)
        n_o = ncol.index_select(0, owner)
        return owner, j0.index_select(0, owner) + local // n_o, i0.index_select(0, owner) + local % n_o

    def adjust_level(self, ctx: LevelContext, lt: LevelTargets, stats: Dict[str, torch.Tensor]) -> LevelTargets:
        """Return ``lt`` with its ``ignore`` mask set (bool (bs, na, ny, nx))."""
        p = ctx.preds
        bs, na, ny, nx = (int(v) for v in p.shape[:4])
        ignore = torch.zeros(bs * na * ny * nx, dtype=torch.bool, device=p.device)
        if ctx.targets.shape[0]:
            boxes = targets_to_pixels(ctx)
            owner, gj, gi = self._candidates(ctx, boxes)
            b = ctx.targets[:, 0].index_select(0, owner).long()
            anchor0 = cell_key(b, torch.zeros_like(b), gj, gi, na, ny, nx)
            idx = anchor0[:, None] + torch.arange(na, device=b.device) * (ny * nx)  # (P, na) flat cells, every anchor
            pb = p.reshape(-1, 4).index_select(0, idx.reshape(-1)).view(-1, na, 4).float()
            hit = box_iou_xywh(pb, boxes.index_select(0, owner)[:, None]) > self.ignore_iou  # (P, na)
            ignore[idx.reshape(-1).index_select(0, hit.reshape(-1).nonzero().squeeze(1))] = True
        if lt.ignore is not None:  # a base's own ignore mask (maxiou's IoU band) is kept
            ignore |= lt.ignore.reshape(-1).to(ignore.device)
        ignore[cell_key(lt.b, lt.a, lt.gj, lt.gi, na, ny, nx)] = False
        add_stat(stats, "ignored", ignore.sum())
        return lt._replace(ignore=ignore.view(bs, na, ny, nx))
