"""The composed assigner: one base strategy, then its modifiers in registry order (a plain loop)."""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch

from .base import Component, Modifier, Strategy
from .context import check_inputs, level_contexts
from .types import Assignment


class Assigner:
    """Callable label assigner built by :func:`yolo_ext.assign.build_assigner`.

    Args:
        components: registered name -> component instance, in application order: the base
            strategy first, then the modifiers (``build_assigner`` orders them as ``ASSIGNERS``
            does, whatever the order of names in the spec).

    Order of operations (see ``base.py`` for the two protocols):

    1. per level, the base's anchor matches ``base.match(ctx)`` (YOLOv5's ratio test);
    2. each modifier's ``adjust_matches(ctxs, matches, stats)`` (``recover`` adds matches);
    3. per level, the base's ``positives(ctx, match)``, then each modifier's
       ``adjust_level(ctx, lt, stats)`` (``dedup`` drops duplicate claims, ``ignore`` builds the
       objectness ignore mask around the final positives).

    Call: ``assigner(targets, anchors, strides, shapes, preds=None) -> Assignment``, with
    targets float (n, 6) [image, class, x, y, w, h] (xywh normalised to the input image),
    anchors float (nl, na, 2) w,h in input pixels, strides (nl,) pixels, shapes a list of
    (ny, nx) per level and preds an optional list of (bs, na, ny, nx, 4) decoded boxes xywh in
    input pixels (required when ``needs_preds``). Stateless; runs under ``torch.no_grad()`` (the
    caller need not wrap it); outputs and ``stats`` (0-d int64 tensors) live on ``targets.device``.
    """

    def __init__(self, components: Mapping[str, Component]):
        items = list(components.items())
        if not items or not isinstance(items[0][1], Strategy):
            raise TypeError(f"an Assigner starts with a Strategy (base), got {[type(c).__name__ for _, c in items]}")
        bad = [n for n, c in items[1:] if not isinstance(c, Modifier)]
        if bad:
            raise TypeError(f"components after the base must be Modifier instances: {bad}")
        self._components = dict(items)  # a plain dict: the model (criterion included) is deep-copied for EMA
        self.base: Strategy = items[0][1]
        self.modifiers: Tuple[Modifier, ...] = tuple(c for _, c in items[1:])

    @property
    def components(self) -> Dict[str, Component]:
        """A copy of the name -> component map, in application order."""
        return dict(self._components)

    @property
    def names(self) -> Tuple[str, ...]:
        """Component names in application order."""
        return tuple(self._components)

    @property
    def spec(self) -> str:
        """Canonical spec string, e.g. ``'radius+dedup+ignore'``."""
        return "+".join(self.names)

    @property
    def needs_preds(self) -> bool:
        """True when any component (base included) reads ``preds``."""
        return any(c.needs_preds for c in self._components.values())

    def __repr__(self) -> str:
        params = {k: v for c in self._components.values() for k, v in vars(c).items()}
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
        stats = {}
        matches = [self.base.match(c) for c in ctxs]
        for m in self.modifiers:
            matches = m.adjust_matches(ctxs, matches, stats)
        levels = []
        for ctx, match in zip(ctxs, matches):
            lt = self.base.positives(ctx, match)
            for m in self.modifiers:
                lt = m.adjust_level(ctx, lt, stats)
            levels.append(lt)
        # a fill from a host int (shapes are known on the host): no copy, no sync
        stats["positives"] = torch.full((), sum(lt.num for lt in levels), dtype=torch.int64, device=targets.device)
        return Assignment(levels, stats)
