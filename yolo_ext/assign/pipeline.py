"""The composed assigner: one base strategy plus optional modifiers in a fixed order."""

from __future__ import annotations

from typing import List, Optional, Sequence

import torch

from .context import check_inputs, level_contexts
from .types import Assignment


class Assigner:
    """Callable label assigner built by :func:`yolo_ext.assign.build_assigner`.

    Order of operations, whatever the order of names in the spec:

    1. anchor ratio test per level (``metric < anchor_t``, the base strategy's ``anchor_t``);
    2. ``recover`` adds best-anchor matches for targets matched nowhere;
    3. the base strategy (``yolov5``, ``distance`` or ``radius``) expands matches into cells;
    4. ``dedup`` keeps one positive per (image, anchor, cell);
    5. ``ignore`` builds the objectness ignore mask around the final positives.

    Call: ``assigner(targets, anchors, strides, shapes, preds=None) -> Assignment``, with
    targets float (n, 6) [image, class, x, y, w, h] (xywh normalised to the input image),
    anchors float (nl, na, 2) w,h in input pixels, strides (nl,) pixels, shapes a list of
    (ny, nx) per level and preds an optional list of (bs, na, ny, nx, 4) decoded boxes xywh in
    input pixels. Stateless; runs under ``torch.no_grad()``; outputs live on ``targets.device``.
    """

    def __init__(self, base, recover=None, dedup=None, ignore=None):
        self.base, self.recover, self.dedup, self.ignore = base, recover, dedup, ignore

    @property
    def names(self) -> List[str]:
        """Component names in application order."""
        from .registry import name_of

        return [name_of(c) for c in (self.base, self.recover, self.dedup, self.ignore) if c is not None]

    @property
    def spec(self) -> str:
        """Canonical spec string, e.g. ``'radius+dedup+ignore'``."""
        return "+".join(self.names)

    @property
    def needs_preds(self) -> bool:
        """True when a component reads ``preds`` (ignore, dedup in 'iou' mode)."""
        return any(getattr(c, "needs_preds", False) for c in (self.dedup, self.ignore) if c is not None)

    def __repr__(self) -> str:
        params = {k: v for c in (self.base, self.recover, self.dedup, self.ignore) if c is not None for k, v in vars(c).items()}
        return f"Assigner({self.spec!r}, {params})"

    @torch.no_grad()
    def __call__(
        self, targets: torch.Tensor, anchors: torch.Tensor, strides, shapes: Sequence, preds: Optional[Sequence[torch.Tensor]] = None
    ) -> Assignment:
        if preds is None and self.needs_preds:
            raise ValueError(
                f"assigner {self.spec!r} needs preds (per-level decoded boxes (bs, na, ny, nx, 4) in pixels); got preds=None"
            )
        targets, anchors, strides, shapes = check_inputs(targets, anchors, strides, shapes, preds)
        ctxs = level_contexts(targets, anchors, strides, shapes, [p.detach() for p in preds] if preds is not None else None)
        matches = [c.metric < self.base.anchor_t for c in ctxs]
        stats = {}
        if self.recover is not None:
            matches = self.recover.adjust(ctxs, matches, stats)
        levels = []
        for ctx, match in zip(ctxs, matches):
            lt = self.base.positives(ctx, match)
            if self.dedup is not None:
                lt = self.dedup.apply(ctx, lt, stats)
            if self.ignore is not None:
                lt = self.ignore.apply(ctx, lt, stats)
            levels.append(lt)
        stats["positives"] = float(sum(lt.num for lt in levels))
        return Assignment(levels, stats)
