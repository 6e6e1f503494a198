"""``tal``: task-aligned assignment (Feng et al., "TOOD: Task-aligned One-stage Object Detection", ICCV 2021), as
ultralytics trains with it (``ultralytics/utils/tal.py::TaskAlignedAssigner``, 8.4.190, whose defaults in
``v8DetectionLoss`` are topk 10, alpha 0.5, beta 6).

Per target: candidates are the predictions whose cell centre lies inside the box, a box side smaller than the
middle level's stride (16 px for strides 8/16/32; the only stride with one level) first enlarged to it about the
centre (8.4.190's ``select_candidates_in_gts``); alignment ``t = s^alpha * u^beta`` with ``s`` the predicted score of
the target's class and ``u`` the CIoU of the predicted box with the target clamped at 0; the target takes its
``tal_topk`` best-aligned candidates; a cell taken by several targets goes to the candidate target with the highest
``u`` there. Soft target of a positive: ``t * max(u) / (max(t) + 1e-9)``, maxima over that target's positives.
"""

from __future__ import annotations

from typing import List, Sequence

import torch
from ultralytics.utils.metrics import bbox_iou

from .base import JointStrategy, check_int, check_number
from .candidates import at, best_per_cell, gather_level, group_max, group_rank, level_offsets, split_levels, target_windows
from .context import LevelContext, cell_centres, targets_to_pixels
from .types import LevelTargets

INSIDE_EPS, NORM_EPS = 1e-9, 1e-9  # ultralytics' select_candidates_in_gts eps and TaskAlignedAssigner.eps


def xyxy(box: torch.Tensor) -> torch.Tensor:
    """xywh (m, 4) -> x1, y1, x2, y2."""
    return torch.cat((box[:, :2] - box[:, 2:] / 2, box[:, :2] + box[:, 2:] / 2), 1)


class TALAssigner(JointStrategy):
    """TAL (see the module docstring). Needs the predicted boxes and scores.

    Equal to ultralytics' ``TaskAlignedAssigner`` with one anchor per level (a cell is one of its anchor points),
    including its ties (a cell claimed twice goes to the highest CIoU among all targets containing it, ties to the
    lowest target row), with one difference: candidates whose alignment is 0 are never positives (ultralytics' top-k
    runs over every anchor point of the image and may pick zero-metric ones in arbitrary order). Memory: the
    candidates are the cells inside each (enlarged) box, never a targets x all-cells matrix. Weights 1;
    ``quality`` = the normalised alignment.
    """

    DESCRIPTION = "TOOD/ultralytics TAL: top tal_topk of s^alpha * CIoU^beta inside the box; soft targets"
    PARAMS = {"tal_topk": 10, "tal_alpha": 0.5, "tal_beta": 6.0}
    needs_preds = True
    needs_scores = True

    def __init__(self, tal_topk: int = 10, tal_alpha: float = 0.5, tal_beta: float = 6.0):
        self.tal_topk = check_int("tal_topk", tal_topk, lambda v: v >= 1, ">= 1 (positives per target)")
        self.tal_alpha = check_number("tal_alpha", tal_alpha, lambda v: v >= 0, ">= 0 (score exponent)")
        self.tal_beta = check_number("tal_beta", tal_beta, lambda v: v >= 0, ">= 0 (IoU exponent)")

    @staticmethod
    def min_side(ctxs: Sequence[LevelContext]) -> torch.Tensor:
        """The enlargement size in pixels: the second level's stride (the first with one level), as 8.4.190."""
        return ctxs[1].stride if len(ctxs) > 1 else ctxs[0].stride

    def _metrics(self, ctx: LevelContext, c, side: torch.Tensor) -> torch.Tensor:
        """(align, CIoU, inside) per candidate of one level, float32 (m, 3)."""
        box = targets_to_pixels(ctx, c.t)
        wh = torch.where(box[:, 2:] < side, side, box[:, 2:])
        centre = cell_centres(ctx, c.gi, c.gj)
        inside = torch.cat((centre - (box[:, :2] - wh / 2), (box[:, :2] + wh / 2) - centre), 1).amin(1) > INSIDE_EPS
        pred = at(ctx.preds, c.key).float()
        u = bbox_iou(xyxy(box), xyxy(pred), xywh=False, CIoU=True).squeeze(-1).clamp(0)
        s = at(ctx.scores, c.key).gather(1, ctx.targets[c.t, 1].long()[:, None]).squeeze(1).float()
        return torch.stack((s.pow(self.tal_alpha) * u.pow(self.tal_beta), u, inside.float()), 1)

    def assign_levels(self, ctxs: Sequence[LevelContext], matches: List[torch.Tensor]) -> List[LevelTargets]:
        side = self.min_side(ctxs)

        def reach(ctx):
            half = torch.clamp(ctx.tg[:, 4:6] * ctx.stride, min=side) / (2 * ctx.stride)  # (nt, 2) grid units
            return half[:, 0].expand(ctx.na, -1), half[:, 1].expand(ctx.na, -1)

        c = target_windows(ctxs, reach)
        vals = gather_level(ctxs, c, lambda ctx, cc: self._metrics(ctx, cc, side))
        idx = (vals[:, 2] > 0).nonzero().squeeze(1)
        c, align, u = c.take(idx), vals[idx, 0], vals[idx, 1]
        nt, total = ctxs[0].targets.shape[0], level_offsets(ctxs)[-1]
        sel = (group_rank(c.t, align, descending=True) < self.tal_topk) & (align > 0)
        claims = torch.zeros(total, dtype=torch.int64, device=u.device).index_add_(0, c.key[sel], torch.ones_like(c.key[sel]))
        shared = claims.index_select(0, c.key) > 1
        keep = (sel & ~shared) | (shared & best_per_cell(c.key, u, c.t, total))
        zero = torch.zeros_like(align)
        max_t = group_max(c.t, torch.where(keep, align, zero), nt, 0.0)
        max_u = group_max(c.t, torch.where(keep, u, zero), nt, 0.0)
        quality = align * max_u.index_select(0, c.t) / (max_t.index_select(0, c.t) + NORM_EPS)
        return split_levels(ctxs, c, keep, quality)
