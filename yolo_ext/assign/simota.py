"""``simota``: SimOTA, the simplified optimal-transport assignment of YOLOX (Ge et al., "YOLOX: Exceeding YOLO
Series in 2021", arXiv 2107.08430; ``yolox/models/yolo_head.py``: ``get_assignments``, ``dynamic_k_matching``).

Per target, candidates are the (anchor, cell) predictions whose cell centre is inside the box or within
``simota_radius`` strides of its centre (per axis); their cost is the class cost + 3 * (-log IoU) + 1e5 for cells
outside either region; the target takes its ``k = max(1, floor(sum of its top-10 candidate IoUs))`` cheapest
candidates; a cell several targets take goes to the candidate target with the lowest cost there. The soft target of
a positive is the IoU of its prediction with the target (YOLOX's class target).
"""

from __future__ import annotations

from typing import List, Sequence

import torch

from ..ops import box_iou_xywh
from .base import JointStrategy, check_number
from .candidates import at, best_per_cell, gather_level, group_rank, level_offsets, split_levels, target_windows
from .context import LevelContext, cell_centres, targets_to_pixels
from .types import LevelTargets

IOU_WEIGHT, OUTSIDE_COST, TOP_IOUS = 3.0, 1e5, 10  # YOLOX's constants


def bce_log(x: torch.Tensor) -> torch.Tensor:
    """``log(x)`` clamped at -100, as ``torch.nn.functional.binary_cross_entropy`` clamps it."""
    return torch.log(x).clamp(min=-100.0)


class SimOTAAssigner(JointStrategy):
    """SimOTA (see the module docstring). Needs the predicted boxes and scores.

    Class cost: YOLOX's ``binary_cross_entropy(sqrt(obj * cls), one_hot).sum(classes)`` with our scores (obj x cls
    probabilities). Two choices keep memory bounded by the candidates, where YOLOX ranks each target against the
    union of all targets' candidate cells of its image: the top-10 IoUs and the cheapest-k are taken over the
    target's own candidates, and a shared cell goes to the cheapest target among those having it as a candidate.
    Outside a target's own regions YOLOX's cost carries the same 1e5 penalty, so the two differ only for a target with
    fewer than k cells in both regions (or fewer than 10 candidates). Ties: lower global cell index, then lower
    target row. Weights 1; ``quality`` = IoU of the positive's prediction with its target.
    """

    DESCRIPTION = "YOLOX SimOTA: cost = cls BCE + 3 * -log IoU (+1e5 outside box and centre), dynamic k per target"
    PARAMS = {"simota_radius": 2.5}
    needs_preds = True
    needs_scores = True

    def __init__(self, simota_radius: float = 2.5):
        self.simota_radius = check_number("simota_radius", simota_radius, lambda v: v > 0,
                                          "> 0 (centre region half-size in strides)")

    def _costs(self, ctx: LevelContext, c):
        """(cost, iou, candidate) per candidate of one level: float32, float32, bool (inside box or centre region)."""
        box = targets_to_pixels(ctx, c.t)
        centre = cell_centres(ctx, c.gi, c.gj)
        lo, hi = box[:, :2] - box[:, 2:] / 2, box[:, :2] + box[:, 2:] / 2
        in_box = torch.cat((centre - lo, hi - centre), 1).amin(1) > 0
        r = self.simota_radius * ctx.stride
        in_ctr = torch.cat((centre - (box[:, :2] - r), (box[:, :2] + r) - centre), 1).amin(1) > 0
        pred = at(ctx.preds, c.key).float()
        iou = box_iou_xywh(pred, box)
        sc = at(ctx.scores, c.key).float()  # (m, nc)
        neg = bce_log(1 - sc.sqrt()).sum(-1)  # sum over classes of log(1 - sqrt p)
        p = sc.gather(1, ctx.targets[c.t, 1].long()[:, None]).squeeze(1).sqrt()
        cls_cost = -bce_log(p) - (neg - bce_log(1 - p))
        cost = cls_cost + IOU_WEIGHT * -torch.log(iou + 1e-8) + OUTSIDE_COST * (~(in_box & in_ctr)).float()
        return torch.stack((cost, iou, (in_box | in_ctr).float()), 1)

    def assign_levels(self, ctxs: Sequence[LevelContext], matches: List[torch.Tensor]) -> List[LevelTargets]:
        r = self.simota_radius

        def reach(ctx):
            half = torch.clamp(ctx.tg[:, 4:6] / 2, min=r)  # (nt, 2): box or centre region, grid units
            return half[:, 0].expand(ctx.na, -1), half[:, 1].expand(ctx.na, -1)

        c = target_windows(ctxs, reach)
        vals = gather_level(ctxs, c, self._costs)
        idx = (vals[:, 2] > 0).nonzero().squeeze(1)
        c, cost, iou = c.take(idx), vals[idx, 0], vals[idx, 1]
        nt, total = ctxs[0].targets.shape[0], level_offsets(ctxs)[-1]
        top = group_rank(c.t, iou, descending=True) < TOP_IOUS
        k = torch.zeros(nt, device=iou.device).index_add_(0, c.t[top], iou[top]).floor().clamp(min=1).long()
        sel = group_rank(c.t, cost) < k.index_select(0, c.t)
        claims = torch.zeros(total, dtype=torch.int64, device=iou.device).index_add_(0, c.key[sel], torch.ones_like(c.key[sel]))
        shared = claims.index_select(0, c.key) > 1
        keep = (sel & ~shared) | (shared & best_per_cell(c.key, -cost, c.t, total))
        return split_levels(ctxs, c, keep, iou.clamp(0, 1))
