"""``maxiou``: IoU matching of anchor boxes (SSD, Liu et al. 2016; RetinaFace, Deng et al. 2020).

Each cell carries its anchor boxes (the anchor w,h centred on the cell centre). A cell whose best IoU with a target
of its image is ``>= pos_iou`` is a positive of that target, ``< neg_iou`` a negative, in between ignored by the
objectness loss (RetinaFace: positives above 0.35; SSD: 0.5). Every target also gets the anchor boxes with its
highest IoU over all levels (ties included), the low-quality matches of detectron2's
``Matcher(allow_low_quality_matches=True)``: such a cell is a positive of that target even below ``pos_iou``. Where
detectron2 lets that cell learn from whichever target it overlaps most (so a target can lose its only anchor to a
neighbour), the cell learns from the target whose best anchor it is, as mmdetection's ``MaxIoUAssigner`` with
``gt_max_assign_all`` does (a cell best for several targets: the highest IoU there, ties to the lowest row).
"""

from __future__ import annotations

from typing import List, Sequence

import torch

from ..ops import box_iou_xywh
from .base import JointStrategy, check_number
from .candidates import best_per_cell, gather_level, group_max, level_offsets, split_levels, target_windows
from .context import LevelContext, anchor_boxes_px, targets_to_pixels
from .types import LevelTargets


def iou_window(gw: torch.Tensor, wa: torch.Tensor, tau: float) -> torch.Tensor:
    """Half-extent (same unit as the sizes) of the centre offsets at which two boxes of widths ``gw`` and ``wa`` can
    reach IoU >= tau: Inter <= Ix * min(h) and Union >= max(area) give Ix >= tau * max(gw, wa), and
    |dx| <= (gw + wa) / 2 - Ix, so |dx| <= (gw + wa) / 2 - tau * max(gw, wa)."""
    return (gw + wa) / 2 - tau * torch.max(gw, wa)


class MaxIoUAssigner(JointStrategy):
    """Positives by anchor-box IoU, an ignored band, and every target's best anchor (see the module docstring).

    Per (image, anchor, cell): if it is a best anchor of some targets (a maximum, > 0, of a target's IoU over every
    level and anchor) it learns from the one of them it overlaps most; otherwise, if its highest IoU is
    ``>= pos_iou``, from that target (ties: lowest target row). The ignore mask holds the non-positive cells with best IoU
    in ``[neg_iou, pos_iou)``. Candidates, per (target, level, anchor): the cells within :func:`iou_window` at
    ``neg_iou`` (every other cell has IoU < neg_iou; none where even a zero offset stays below it), and, on the
    (level, anchor) pairs holding the target's best IoU, the cells where its best anchors lie: the IoU of two centred
    boxes is flat while one holds the other along an axis (``|dx| <= |w - w_a| / 2``) and falls beyond, so they are
    within ``max(|w - w_a| / 2, half a cell)`` of the centre on each axis, the best of each pair on the cell holding
    the centre. Weights 1, no soft targets.
    """

    DESCRIPTION = "SSD/RetinaFace: anchor-box IoU >= pos_iou positive, < neg_iou negative, band ignored, + each target's best anchor"
    PARAMS = {"pos_iou": 0.35, "neg_iou": 0.3}

    def __init__(self, pos_iou: float = 0.35, neg_iou: float = 0.3):
        self.pos_iou = check_number("pos_iou", pos_iou, lambda v: 0 < v <= 1, "in (0, 1] (an IoU threshold)")
        self.neg_iou = check_number("neg_iou", neg_iou, lambda v: 0 < v <= self.pos_iou,
                                    f"in (0, pos_iou={self.pos_iou}] (below it a cell is a negative)")

    @staticmethod
    def _nearest_iou(ctx: LevelContext) -> torch.Tensor:
        """(na, nt) IoU of each anchor placed on the cell holding each target centre (the anchor's best cell)."""
        na, nt = ctx.na, ctx.tg.shape[0]
        gi = ctx.tg[:, 2].long().clamp(0, ctx.nx - 1).repeat(na)
        gj = ctx.tg[:, 3].long().clamp(0, ctx.ny - 1).repeat(na)
        a = torch.arange(na, device=gi.device).repeat_interleave(nt)
        box = targets_to_pixels(ctx).repeat(na, 1)
        return box_iou_xywh(anchor_boxes_px(ctx, a, gi, gj), box).view(na, nt)

    def assign_levels(self, ctxs: Sequence[LevelContext], matches: List[torch.Tensor]) -> List[LevelTargets]:
        tau = self.neg_iou
        near = [self._nearest_iou(ctx) for ctx in ctxs]  # (na, nt) per level: the best IoU of each (anchor, target)
        best = torch.stack([n.amax(0) for n in near]).amax(0) if near[0].numel() else near[0].new_zeros(0)

        def reach(ctx):
            anc, gwh = ctx.anchors[:, None, :], ctx.tg[None, :, 4:6]  # (na, 1, 2), (1, nt, 2) grid units
            inter = torch.min(gwh, anc).prod(-1)
            zero_offset = inter / (gwh.prod(-1) + anc.prod(-1) - inter + 1e-9)  # (na, nt): the largest IoU possible
            reach_tau = torch.where((zero_offset >= tau * (1 - 1e-5))[..., None],
                                    iou_window(gwh, anc, tau).clamp(min=0.5), torch.full_like(inter, -1.0)[..., None])
            is_best = (near[ctx.index - ctxs[0].index] >= best * (1 - 1e-5)) & (best > 0)  # (na, nt), ties included
            # the plateau of the best IoU (one box inside the other along an axis) and the nearest cell
            reach_best = torch.where(is_best[..., None], ((gwh - anc).abs() / 2).clamp(min=0.5),
                                     torch.full_like(reach_tau, -1.0))
            r = torch.max(reach_tau, reach_best)  # -1: no cell of this (anchor, level) can matter for the target
            return r[..., 0], r[..., 1]

        c = target_windows(ctxs, reach)
        iou = gather_level(ctxs, c, lambda ctx, cc: box_iou_xywh(anchor_boxes_px(ctx, cc.a, cc.gi, cc.gj),
                                                                 targets_to_pixels(ctx, cc.t)))
        offs = level_offsets(ctxs)
        total, nt = offs[-1], ctxs[0].targets.shape[0]
        low = (iou > 0) & (iou == group_max(c.t, iou, nt, 0.0).index_select(0, c.t))  # each target's best anchors
        low_cell = torch.zeros(total, dtype=torch.bool, device=iou.device)
        low_cell[c.key[low]] = True
        cell_max = group_max(c.key, iou, total, 0.0)
        low_key = torch.where(low, c.key, torch.full_like(c.key, total))  # other candidates: a spare cell slot
        low_win = low & best_per_cell(low_key, iou, c.t, total + 1)
        by_iou = best_per_cell(c.key, iou, c.t, total) & (cell_max >= self.pos_iou).index_select(0, c.key)
        keep = low_win | (by_iou & ~low_cell.index_select(0, c.key))
        band = (cell_max >= self.neg_iou) & (cell_max < self.pos_iou) & ~low_cell
        ignore = [band[offs[k]: offs[k + 1]].view(ctx.bs, ctx.na, ctx.ny, ctx.nx) for k, ctx in enumerate(ctxs)]
        return split_levels(ctxs, c, keep, None, ignore)
