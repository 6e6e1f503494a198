"""``recover`` modifier: targets no anchor accepts are given to their best-fitting anchor."""

from __future__ import annotations

from typing import Dict, List, Sequence

import torch

from .base import Modifier, add_stat, zero_count
from .context import LevelContext


class RecoverModifier(Modifier):
    """Assign every target that fails the anchor ratio test everywhere to its best anchor.

    YOLOv5 silently drops a target whose w,h ratio to every anchor of every level is
    ``>= anchor_t`` (e.g. a 20:1 box). This modifier finds, for each such target, the (level,
    anchor) with the smallest shape metric ``max(r, 1/r)`` (ties: lowest level, then lowest
    anchor) and adds that single match before the base strategy expands matches into cells, so
    the target gets that base strategy's cells (centre + neighbours for yolov5/distance, the disc
    for radius) on that level. Targets with zero width or height are not recovered.
    ``stats["recovered"]`` counts recovered targets. It acts through ``adjust_matches`` only, and is
    registered first among modifiers, so later modifiers see the recovered positives.
    """

    DESCRIPTION = "targets failing the anchor ratio test everywhere go to their best-ratio anchor and level"
    PARAMS: Dict[str, object] = {}

    def adjust_matches(self, ctxs: Sequence[LevelContext], matches: List[torch.Tensor], stats: Dict[str, torch.Tensor]) -> List[torch.Tensor]:
        """Add best-anchor matches for unmatched targets.

        Args:
            ctxs: per-level contexts (ctx.metric is float32 (na, nt)).
            matches: per level bool (na, nt) ratio-test matches.
        Returns:
            per level bool (na, nt) matches including the recovered ones.
        """
        nl, (na, nt) = len(ctxs), ctxs[0].metric.shape
        match = torch.stack(matches).reshape(nl * na, nt)
        metric = torch.stack([c.metric for c in ctxs]).reshape(nl * na, nt)
        if nt == 0:
            add_stat(stats, "recovered", zero_count(match.device))
            return list(matches)
        best_metric, best = metric.min(0)  # first minimum: lowest level, then anchor
        lost = ~match.any(0) & torch.isfinite(best_metric)
        add = torch.zeros_like(match)
        add[best, torch.arange(nt, device=match.device)] = lost
        add_stat(stats, "recovered", lost.sum())
        return list((match | add).reshape(nl, na, nt).unbind(0))
