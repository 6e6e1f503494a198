"""``dedup`` modifier: at most one positive per (image, anchor, cell)."""

from __future__ import annotations

from typing import Dict

import torch

from ..ops import box_iou_xywh, cell_key, lexsort
from .base import Modifier, add_stat, check_choice, zero_count
from .context import LevelContext, targets_to_pixels
from .types import LevelTargets

DEDUP_MODES = ("unique", "iou")


class DedupModifier(Modifier):
    """When several positives claim the same (image, anchor, row, column), keep one.

    YOLOv5 lets crowded targets (and a target lying exactly on a cell edge or on the image border)
    claim one prediction several times; the box loss then pulls it towards several boxes and the
    objectness target is whichever write lands last. Kept positive per cell:

    * ``dedup_mode="unique"``: the target whose centre is closest to the cell centre (squared
      Euclidean distance in cells), ties by smaller box area, then by lower ``targets`` row, then
      by larger weight;
    * ``dedup_mode="iou"``: the target whose box has the highest IoU with the prediction decoded
      at that cell (needs ``preds``), ties broken by the ``unique`` rule.

    Kept positives stay in their input order. ``stats["dedup_removed"]`` counts removed
    positives (all levels). Acts through ``adjust_level``; registered after ``recover`` (so the
    recovered positives are deduplicated too) and before ``ignore``.
    """

    DESCRIPTION = "one positive per (image, anchor, cell): closest centre ('unique') or best prediction IoU ('iou')"
    PARAMS = {"dedup_mode": "unique"}

    def __init__(self, dedup_mode: str = "unique"):
        self.dedup_mode = check_choice("dedup_mode", dedup_mode, DEDUP_MODES)

    @property
    def needs_preds(self) -> bool:
        return self.dedup_mode == "iou"

    def adjust_level(self, ctx: LevelContext, lt: LevelTargets, stats: Dict[str, torch.Tensor]) -> LevelTargets:
        """Drop duplicate claims from one level's positives (LevelTargets with m rows)."""
        m = lt.num
        if m == 0:
            add_stat(stats, "dedup_removed", zero_count(lt.b.device))
            return lt
        key = cell_key(lt.b, lt.a, lt.gj, lt.gi, ctx.na, ctx.ny, ctx.nx)
        sk, order = torch.sort(key, stable=True)
        same = sk[1:] == sk[:-1]  # (m - 1,) sorted neighbours claiming one cell
        shared = torch.zeros(m, dtype=torch.bool, device=key.device)
        shared[1:] |= same
        shared[:-1] |= same
        contested = order[shared]  # positives sharing their cell with another, in sorted-key order
        keep = torch.ones(m, dtype=torch.bool, device=key.device)
        if contested.numel():
            keep[contested] = False
            keep[contested[self._best(ctx, lt, contested, key[contested])]] = True
        add_stat(stats, "dedup_removed", m - keep.sum())
        return lt.select(keep)

    def _best(self, ctx: LevelContext, lt: LevelTargets, idx: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """Positions in ``idx`` (int64 (k,) contested positives, cell ``key``) of the claim kept per cell."""
        t, gi, gj = lt.t[idx], lt.gi[idx], lt.gj[idx]
        tg = ctx.tg[t]
        dx = gi.float() + 0.5 - tg[:, 2]
        dy = gj.float() + 0.5 - tg[:, 3]
        keys = [dx * dx + dy * dy, tg[:, 4] * tg[:, 5], t, -lt.weight[idx]]
        if self.dedup_mode == "iou":
            pred = ctx.preds[lt.b[idx], lt.a[idx], gj, gi].float()
            keys.insert(0, -box_iou_xywh(pred, targets_to_pixels(ctx, t)))
        order = lexsort([key] + keys)  # grouped by cell, best claim first
        sk = key[order]
        first = torch.ones_like(sk, dtype=torch.bool)
        first[1:] = sk[1:] != sk[:-1]
        return order[first]
